/*
 * A GSS-API peer, driven by mod.rs over stdin and stdout. The same source
 * builds against MIT's libgssapi_krb5 and Heimdal's libgssapi (7.8), whose
 * headers both declare every call used here, lucid export included. Every
 * value is one line, and binary values are hex.
 *
 *   peer accept
 *   peer init SERVICE@HOST [nomutual]
 *
 * Both modes run the same exchange after establishing the context:
 *
 *   accept: <- AP-REQ token             init: -> "token" AP-REQ
 *           -> "token" AP-REP or empty        <- AP-REP (mutual only)
 *   both:   -> "flags" ret_flags
 *           <- message, <- the peer's MIC over it  -> "verified" seq status
 *           <- message                             -> "mic" our MIC over it
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
                                   GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL,
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

    exchange_mics(context);
    print_lucid(&context);
    gss_release_cred(&minor, &cred);
    return 0;
}

static int run_init(const char *target, int mutual)
{
    OM_uint32 major, minor, ret_flags = 0;
    OM_uint32 req_flags = GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
    gss_name_t name = GSS_C_NO_NAME;
    gss_ctx_id_t context = GSS_C_NO_CONTEXT;
    gss_buffer_desc name_buffer, input = GSS_C_EMPTY_BUFFER;
    gss_buffer_desc output = GSS_C_EMPTY_BUFFER;

    if (mutual)
        req_flags |= GSS_C_MUTUAL_FLAG;

    name_buffer.value = (void *)target;
    name_buffer.length = strlen(target);
    major = gss_import_name(&minor, &name_buffer, GSS_C_NT_HOSTBASED_SERVICE,
                            &name);
    if (GSS_ERROR(major))
        fail("gss_import_name", major, minor);

    /* The default credential comes from the KRB5CCNAME ccache. */
    major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &context, name,
                                 (gss_OID)gss_mech_krb5, req_flags, 0,
                                 GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER,
                                 NULL, &output, &ret_flags, NULL);
    if (GSS_ERROR(major))
        fail("gss_init_sec_context", major, minor);
    print_token(&output);
    gss_release_buffer(&minor, &output);

    if (major == GSS_S_CONTINUE_NEEDED) {
        input = read_hex_line("the acceptor's reply token");
        major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &context,
                                     name, (gss_OID)gss_mech_krb5, req_flags,
                                     0, GSS_C_NO_CHANNEL_BINDINGS, &input,
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

    exchange_mics(context);
    print_lucid(&context);
    gss_release_name(&minor, &name);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "accept") == 0)
        return run_accept();
    if (argc == 3 && strcmp(argv[1], "init") == 0)
        return run_init(argv[2], 1);
    if (argc == 4 && strcmp(argv[1], "init") == 0 &&
        strcmp(argv[3], "nomutual") == 0)
        return run_init(argv[2], 0);
    fprintf(stderr, "usage: %s accept | init SERVICE@HOST [nomutual]\n",
            argv[0]);
    return 2;
}
