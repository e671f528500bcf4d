/*
 * A GSS-API peer, driven by mod.rs over stdin and stdout. The same source
 * builds against MIT's libgssapi_krb5 and Heimdal's libgssapi (7.8), whose
 * headers both declare every call used here, lucid export included. Every
 * value is one line, and binary values are hex.
 *
 *   peer accept [cb=BINDINGS] [commands | commands-only]
 *   peer init SERVICE@HOST [nomutual] [sequence] [cb=BINDINGS]
 *             [enctypes=LIST] [commands | commands-only]
 *
 * cb= passes channel bindings to both context calls, as five colon-separated
 * fields: initiator address type (decimal), initiator address (hex),
 * acceptor address type, acceptor address, application data. enctypes= is
 * a comma-separated list of enctype numbers that the initiator passes to
 * gss_krb5_set_allowable_enctypes, as rpc.gssd does with the kernel's list.
 * commands-only runs the command loop without the fixed MIC exchange.
 *
 * Both modes run the same exchange after establishing the context:
 *
 *   accept: <- AP-REQ token             init: -> "token" AP-REQ
 *           -> "token" AP-REP or empty        <- AP-REP (mutual only)
 *   both:   -> "flags" ret_flags
 *           <- message, <- the peer's MIC over it  -> "verified" seq status
 *           <- message                             -> "mic" our MIC over it
 *   with commands, lines until "end":
 *           <- "wrap" CONF message       -> "wrapped" conf_state token
 *           <- "unwrap" token            -> "unwrapped" conf_state status message
 *                                           or "unwrap-failed" status
 *           <- "mic" message             -> "mic" token
 *           <- "verify" token message    -> "verified" status
 *                                           or "verify-failed" status
 *           -> "lucid" fields of gss_krb5_export_lucid_sec_context v1
 *
 * The lucid export comes last because MIT deletes the context it exports.
 * Any failure prints "error ..." on stdout and exits with status 1.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

/* The channel bindings of cb=, or none. */
static struct gss_channel_bindings_struct cb_storage;
static gss_channel_bindings_t channel_bindings = GSS_C_NO_CHANNEL_BINDINGS;
/* Set by the "commands" option, and with skip_mics by "commands-only". */
static int commands;
static int skip_mics;
/* The enctypes of the "enctypes=" option; none when num_enctypes is 0. */
static int32_t enctypes[16];
static OM_uint32 num_enctypes;
/* Replay and sequence detection, added to init's request by "sequence". */
static OM_uint32 extra_flags;

static void print_status(const char *step, OM_uint32 status, int type)
{
    OM_uint32 minor, context = 0;
    gss_buffer_desc text;

    do {
        if (GSS_ERROR(gss_display_status(&minor, status, type, GSS_C_NO_OID,
                                         &context, &text)))
            return;
        printf(" [%s: %.*s]", step, (int)text.length, (char *)text.value);
        gss_release_buffer(&minor, &text);
    } while (context != 0);
}

static void fail(const char *step, OM_uint32 major, OM_uint32 minor)
{
    printf("error %s failed: major 0x%08x minor %u", step, major, minor);
    print_status("major", major, GSS_C_GSS_CODE);
    print_status("minor", minor, GSS_C_MECH_CODE);
    printf("\n");
    fflush(stdout);
    exit(1);
}

static void fail_input(const char *expected)
{
    printf("error invalid or missing input line: expected %s\n", expected);
    fflush(stdout);
    exit(1);
}

static void print_hex(const void *data, size_t length)
{
    const unsigned char *bytes = data;
    size_t i;

    for (i = 0; i < length; i++)
        printf("%02x", bytes[i]);
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads one line of hex into a malloc'd buffer. An empty line is an empty buffer. */
static gss_buffer_desc read_hex_line(const char *expected)
{
    char *line = NULL;
    size_t capacity = 0, i, length;
    ssize_t read;
    gss_buffer_desc buffer;
    unsigned char *bytes;

    read = getline(&line, &capacity, stdin);
    if (read < 0)
        fail_input(expected);
    length = (size_t)read;
    while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
        length--;
    if (length % 2 != 0)
        fail_input(expected);

    bytes = malloc(length / 2 + 1);
    if (bytes == NULL)
        fail_input("memory");
    for (i = 0; i < length / 2; i++) {
        int high = hex_digit(line[2 * i]), low = hex_digit(line[2 * i + 1]);

        if (high < 0 || low < 0)
            fail_input(expected);
        bytes[i] = (unsigned char)(high * 16 + low);
    }
    free(line);
    buffer.length = length / 2;
    buffer.value = bytes;
    return buffer;
}

/*
 * Decodes `length` hex digits at `text` into a malloc'd buffer. Returns 0 on
 * success and -1 on an odd length or a non-hex digit.
 */
static int decode_hex(const char *text, size_t length, gss_buffer_desc *out)
{
    unsigned char *bytes;
    size_t i;

    if (length % 2 != 0)
        return -1;
    bytes = malloc(length / 2 + 1);
    if (bytes == NULL)
        return -1;
    for (i = 0; i < length / 2; i++) {
        int high = hex_digit(text[2 * i]), low = hex_digit(text[2 * i + 1]);

        if (high < 0 || low < 0) {
            free(bytes);
            return -1;
        }
        bytes[i] = (unsigned char)(high * 16 + low);
    }
    out->length = length / 2;
    out->value = bytes;
    return 0;
}

/* Parses the value of cb= into channel_bindings. Returns 0 or -1. */
static int parse_bindings(const char *spec)
{
    const char *field = spec;
    gss_buffer_desc *buffers[3] = {
        &cb_storage.initiator_address, &cb_storage.acceptor_address,
        &cb_storage.application_data
    };
    OM_uint32 *types[2] = {
        &cb_storage.initiator_addrtype, &cb_storage.acceptor_addrtype
    };
    int i;

    /* Fields alternate: type, address, type, address, application data. */
    for (i = 0; i < 5; i++) {
        const char *end = strchr(field, ':');
        size_t length = end != NULL ? (size_t)(end - field) : strlen(field);

        if ((i < 4) != (end != NULL))
            return -1;
        if (i == 0 || i == 2) {
            char *stop;

            *types[i / 2] = (OM_uint32)strtoul(field, &stop, 10);
            if (stop != field + length)
                return -1;
        } else if (decode_hex(field, length, buffers[i / 2]) != 0) {
            return -1;
        }
        field += length + 1;
    }
    channel_bindings = &cb_storage;
    return 0;
}

/* Parses the value of enctypes= into enctypes. Returns 0 or -1. */
static int parse_enctypes(const char *list)
{
    const char *field = list;

    while (num_enctypes < sizeof(enctypes) / sizeof(enctypes[0])) {
        char *stop;
        long value = strtol(field, &stop, 10);

        if (stop == field)
            return -1;
        enctypes[num_enctypes++] = (int32_t)value;
        if (*stop == '\0')
            return 0;
        if (*stop != ',')
            return -1;
        field = stop + 1;
    }
    return -1;
}

static void print_token(gss_buffer_t token)
{
    printf("token ");
    print_hex(token->value, token->length);
    printf("\n");
    fflush(stdout);
}

/* Verifies the peer's MIC, then signs a message, in the order listed above. */
static void exchange_mics(gss_ctx_id_t context)
{
    OM_uint32 major, minor;
    gss_qop_t qop;
    gss_buffer_desc message, token, mic;

    message = read_hex_line("the message the peer signed");
    token = read_hex_line("the peer's MIC token");
    major = gss_verify_mic(&minor, context, &message, &token, &qop);
    if (GSS_ERROR(major))
        fail("gss_verify_mic", major, minor);
    printf("verified 0x%08x\n", major);
    fflush(stdout);
    free(message.value);
    free(token.value);

    message = read_hex_line("the message to sign");
    major = gss_get_mic(&minor, context, GSS_C_QOP_DEFAULT, &message, &mic);
    if (GSS_ERROR(major))
        fail("gss_get_mic", major, minor);
    printf("mic ");
    print_hex(mic.value, mic.length);
    printf("\n");
    fflush(stdout);
    free(message.value);
    gss_release_buffer(&minor, &mic);
}

/* Wraps or unwraps one message per command line until "end". */
static void run_commands(gss_ctx_id_t context)
{
    char *line = NULL;
    size_t capacity = 0;
    ssize_t read;

    while ((read = getline(&line, &capacity, stdin)) >= 0) {
        OM_uint32 major, minor;
        gss_buffer_desc input, output = GSS_C_EMPTY_BUFFER;
        int conf_state = 0;
        char *command, *argument, *hex;

        while (read > 0 && (line[read - 1] == '\n' || line[read - 1] == '\r'))
            line[--read] = '\0';
        command = strtok(line, " ");
        if (command == NULL)
            fail_input("a command");
        if (strcmp(command, "end") == 0)
            break;

        if (strcmp(command, "wrap") == 0) {
            argument = strtok(NULL, " ");
            hex = strtok(NULL, " ");
            if (argument == NULL)
                fail_input("wrap CONF MESSAGE");
            if (hex == NULL)
                hex = "";
            if (decode_hex(hex, strlen(hex), &input) != 0)
                fail_input("the message to wrap in hex");
            major = gss_wrap(&minor, context, atoi(argument), GSS_C_QOP_DEFAULT,
                             &input, &conf_state, &output);
            if (GSS_ERROR(major))
                fail("gss_wrap", major, minor);
            printf("wrapped %d ", conf_state);
            print_hex(output.value, output.length);
            printf("\n");
        } else if (strcmp(command, "unwrap") == 0) {
            hex = strtok(NULL, " ");
            if (hex == NULL || decode_hex(hex, strlen(hex), &input) != 0)
                fail_input("unwrap TOKEN");
            major = gss_unwrap(&minor, context, &input, &output, &conf_state,
                               NULL);
            if (GSS_ERROR(major)) {
                printf("unwrap-failed 0x%08x\n", major);
            } else {
                printf("unwrapped %d 0x%08x ", conf_state, major);
                print_hex(output.value, output.length);
                printf("\n");
            }
        } else if (strcmp(command, "mic") == 0) {
            hex = strtok(NULL, " ");
            if (hex == NULL)
                hex = "";
            if (decode_hex(hex, strlen(hex), &input) != 0)
                fail_input("the message to sign in hex");
            major = gss_get_mic(&minor, context, GSS_C_QOP_DEFAULT, &input,
                                &output);
            if (GSS_ERROR(major))
                fail("gss_get_mic", major, minor);
            printf("mic ");
            print_hex(output.value, output.length);
            printf("\n");
        } else if (strcmp(command, "verify") == 0) {
            gss_buffer_desc message;

            hex = strtok(NULL, " ");
            if (hex == NULL || decode_hex(hex, strlen(hex), &input) != 0)
                fail_input("verify TOKEN MESSAGE");
            hex = strtok(NULL, " ");
            if (hex == NULL)
                hex = "";
            if (decode_hex(hex, strlen(hex), &message) != 0)
                fail_input("the signed message in hex");
            major = gss_verify_mic(&minor, context, &message, &input, NULL);
            if (GSS_ERROR(major))
                printf("verify-failed 0x%08x\n", major);
            else
                printf("verified 0x%08x\n", major);
            free(message.value);
        } else {
            fail_input("wrap, unwrap, mic, verify or end");
        }
        fflush(stdout);
        free(input.value);
        gss_release_buffer(&minor, &output);
    }
    free(line);
}

/*
 * Exports the context as lucid v1 and prints it. The key printed is the one
 * RFC 4121 calls the base key: the acceptor subkey when there is one.
 */
static void print_lucid(gss_ctx_id_t *context)
{
    OM_uint32 major, minor;
    void *exported = NULL;
    gss_krb5_lucid_context_v1_t *lucid;
    const gss_krb5_lucid_key_t *key;
    unsigned int acceptor_subkey = 0;

    major = gss_krb5_export_lucid_sec_context(&minor, context, 1, &exported);
    if (GSS_ERROR(major))
        fail("gss_krb5_export_lucid_sec_context", major, minor);
    lucid = exported;

    if (lucid->protocol == 1) {
        acceptor_subkey = lucid->cfx_kd.have_acceptor_subkey;
        key = acceptor_subkey ? &lucid->cfx_kd.acceptor_subkey
                              : &lucid->cfx_kd.ctx_key;
    } else {
        key = &lucid->rfc1964_kd.ctx_key;
    }

    printf("lucid version=%u initiate=%u endtime=%u send_seq=%llu "
           "recv_seq=%llu protocol=%u acceptor_subkey=%u enctype=%u key=",
           lucid->version, lucid->initiate, lucid->endtime,
           (unsigned long long)lucid->send_seq,
           (unsigned long long)lucid->recv_seq, lucid->protocol,
           acceptor_subkey, key->type);
    print_hex(key->data, key->length);
    printf("\n");
    fflush(stdout);
    gss_krb5_free_lucid_sec_context(&minor, exported);
}

static int run_accept(void)
{
    OM_uint32 major, minor, ret_flags = 0;
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    gss_ctx_id_t context = GSS_C_NO_CONTEXT;
    gss_buffer_desc input, output = GSS_C_EMPTY_BUFFER;

    /* With no name, any key in the KRB5_KTNAME keytab may accept. */
    major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE,
                             GSS_C_NO_OID_SET, GSS_C_ACCEPT, &cred, NULL,
                             NULL);
    if (GSS_ERROR(major))
        fail("gss_acquire_cred", major, minor);

    input = read_hex_line("the initiator's token");
    major = gss_accept_sec_context(&minor, &context, cred, &input,
                                   channel_bindings, NULL, NULL,
                                   &output, &ret_flags, NULL, NULL);
    if (output.length > 0 && GSS_ERROR(major))
        print_token(&output);
    if (GSS_ERROR(major))
        fail("gss_accept_sec_context", major, minor);
    if (major != GSS_S_COMPLETE)
        fail("gss_accept_sec_context (expected one round trip)", major, minor);
    free(input.value);

    print_token(&output);
    gss_release_buffer(&minor, &output);
    printf("flags 0x%x\n", ret_flags);
    fflush(stdout);

    if (!skip_mics)
        exchange_mics(context);
    if (commands)
        run_commands(context);
    print_lucid(&context);
    gss_release_cred(&minor, &cred);
    return 0;
}

static int run_init(const char *target, int mutual)
{
    OM_uint32 major, minor, ret_flags = 0;
    OM_uint32 req_flags = GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
    gss_name_t name = GSS_C_NO_NAME;
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    gss_ctx_id_t context = GSS_C_NO_CONTEXT;
    gss_buffer_desc name_buffer, input = GSS_C_EMPTY_BUFFER;
    gss_buffer_desc output = GSS_C_EMPTY_BUFFER;

    if (mutual)
        req_flags |= GSS_C_MUTUAL_FLAG;
    req_flags |= extra_flags;

    name_buffer.value = (void *)target;
    name_buffer.length = strlen(target);
    major = gss_import_name(&minor, &name_buffer, GSS_C_NT_HOSTBASED_SERVICE,
                            &name);
    if (GSS_ERROR(major))
        fail("gss_import_name", major, minor);

    /* The credential comes from the KRB5CCNAME ccache. */
    if (num_enctypes > 0) {
        major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE,
                                 GSS_C_NO_OID_SET, GSS_C_INITIATE, &cred,
                                 NULL, NULL);
        if (GSS_ERROR(major))
            fail("gss_acquire_cred", major, minor);
        major = gss_krb5_set_allowable_enctypes(&minor, cred, num_enctypes,
                                                enctypes);
        if (GSS_ERROR(major))
            fail("gss_krb5_set_allowable_enctypes", major, minor);
    }
    major = gss_init_sec_context(&minor, cred, &context, name,
                                 (gss_OID)gss_mech_krb5, req_flags, 0,
                                 channel_bindings, GSS_C_NO_BUFFER,
                                 NULL, &output, &ret_flags, NULL);
    if (GSS_ERROR(major))
        fail("gss_init_sec_context", major, minor);
    print_token(&output);
    gss_release_buffer(&minor, &output);

    if (major == GSS_S_CONTINUE_NEEDED) {
        input = read_hex_line("the acceptor's reply token");
        major = gss_init_sec_context(&minor, cred, &context,
                                     name, (gss_OID)gss_mech_krb5, req_flags,
                                     0, channel_bindings, &input,
                                     NULL, &output, &ret_flags, NULL);
        if (GSS_ERROR(major))
            fail("gss_init_sec_context (reply)", major, minor);
        if (major != GSS_S_COMPLETE)
            fail("gss_init_sec_context (expected completion)", major, minor);
        free(input.value);
        gss_release_buffer(&minor, &output);
    }
    printf("flags 0x%x\n", ret_flags);
    fflush(stdout);

    if (!skip_mics)
        exchange_mics(context);
    if (commands)
        run_commands(context);
    print_lucid(&context);
    gss_release_name(&minor, &name);
    if (cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &cred);
    return 0;
}

int main(int argc, char **argv)
{
    int init, mutual = 1, first_option, i;

    if (argc >= 2 && strcmp(argv[1], "accept") == 0) {
        init = 0;
        first_option = 2;
    } else if (argc >= 3 && strcmp(argv[1], "init") == 0) {
        init = 1;
        first_option = 3;
    } else {
        goto usage;
    }
    for (i = first_option; i < argc; i++) {
        if (init && strcmp(argv[i], "nomutual") == 0)
            mutual = 0;
        else if (init && strcmp(argv[i], "sequence") == 0)
            extra_flags = GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG;
        else if (strcmp(argv[i], "commands") == 0)
            commands = 1;
        else if (strcmp(argv[i], "commands-only") == 0)
            commands = skip_mics = 1;
        else if (init && strncmp(argv[i], "enctypes=", 9) == 0) {
            if (parse_enctypes(argv[i] + 9) != 0)
                goto usage;
        }
        else if (strncmp(argv[i], "cb=", 3) != 0 ||
                 parse_bindings(argv[i] + 3) != 0)
            goto usage;
    }
    return init ? run_init(argv[2], mutual) : run_accept();

usage:
    fprintf(stderr,
            "usage: %s accept [cb=BINDINGS] [commands | commands-only] | "
            "init SERVICE@HOST [nomutual] [sequence] [cb=BINDINGS] "
            "[enctypes=LIST] [commands | commands-only]\n",
            argv[0]);
    return 2;
}
