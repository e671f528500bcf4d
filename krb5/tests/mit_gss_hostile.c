/*
 * Feeds hostile context tokens to MIT's GSS-API krb5 mechanism and prints
 * its status for each, so that gss_hostile.rs can compare MIT's verdicts
 * with ours. Driven over stdin and stdout, one hex token a line:
 *
 *   mit_gss_hostile accept [PRINCIPAL]
 *   mit_gss_hostile init PRINCIPAL
 *
 * accept: the acceptor credential comes from the KRB5_KTNAME keytab, for
 * PRINCIPAL (a krb5 principal name) when given, else for any key in the
 * keytab. Each input line is one initiator token, accepted with a fresh
 * context and the one credential, so that MIT's replay cache records every
 * token.
 *
 * init: for each input line "next", a fresh context for PRINCIPAL with
 * mutual authentication, from the KRB5CCNAME cache, prints "token" and its
 * AP-REQ, then reads the acceptor's reply token from the next line.
 *
 * Each token fed to MIT gets one output line:
 *
 *   status MAJOR MINOR OUTPUT_TOKEN_HEX_OR_DASH [MIT's messages]
 *
 * with MAJOR in hex as 0x%08x and MINOR in decimal.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

static void print_messages(OM_uint32 status, int type)
{
    OM_uint32 minor, context = 0;
    gss_buffer_desc text;

    do {
        if (GSS_ERROR(gss_display_status(&minor, status, type, GSS_C_NO_OID,
                                         &context, &text)))
            return;
        printf(" [%.*s]", (int)text.length, (char *)text.value);
        gss_release_buffer(&minor, &text);
    } while (context != 0);
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes a hex line in place and returns its byte count, or -1 if invalid. */
static long decode_hex(char *line)
{
    size_t length = strcspn(line, "\r\n"), i;

    if (length % 2 != 0)
        return -1;
    for (i = 0; i < length / 2; i++) {
        int high = hex_value(line[2 * i]), low = hex_value(line[2 * i + 1]);

        if (high < 0 || low < 0)
            return -1;
        line[i] = (char)(high * 16 + low);
    }
    return (long)(length / 2);
}

static gss_name_t import_principal(const char *principal)
{
    OM_uint32 major, minor;
    gss_name_t name = GSS_C_NO_NAME;
    gss_buffer_desc buffer;

    buffer.value = (void *)principal;
    buffer.length = strlen(principal);
    major = gss_import_name(&minor, &buffer, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
    if (GSS_ERROR(major)) {
        printf("error gss_import_name failed: major 0x%08x minor %u\n", major,
               minor);
        exit(1);
    }
    return name;
}

static void print_hex(const gss_buffer_desc *buffer)
{
    size_t i;

    for (i = 0; i < buffer->length; i++)
        printf("%02x", ((unsigned char *)buffer->value)[i]);
}

/* Prints the status line of one token; see the header comment. */
static void print_status(OM_uint32 major, OM_uint32 minor,
                         const gss_buffer_desc *output)
{
    printf("status 0x%08x %u ", major, minor);
    if (output->length == 0)
        printf("-");
    print_hex(output);
    if (GSS_ERROR(major)) {
        print_messages(major, GSS_C_GSS_CODE);
        print_messages(minor, GSS_C_MECH_CODE);
    }
    printf("\n");
    fflush(stdout);
}

static gss_cred_id_t acquire_acceptor(const char *principal)
{
    OM_uint32 major, minor;
    gss_name_t name = GSS_C_NO_NAME;
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;

    if (principal != NULL)
        name = import_principal(principal);
    major = gss_acquire_cred(&minor, name, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
                             GSS_C_ACCEPT, &cred, NULL, NULL);
    if (GSS_ERROR(major)) {
        printf("error gss_acquire_cred failed: major 0x%08x minor %u\n", major,
               minor);
        exit(1);
    }
    if (name != GSS_C_NO_NAME)
        gss_release_name(&minor, &name);
    return cred;
}

/* Reads one hex line into `line` and returns it as a buffer. */
static int read_token(char **line, size_t *capacity, gss_buffer_desc *token)
{
    long length;

    if (getline(line, capacity, stdin) < 0)
        return 0;
    length = decode_hex(*line);
    if (length < 0) {
        printf("error invalid hex input line\n");
        exit(1);
    }
    token->value = *line;
    token->length = (size_t)length;
    return 1;
}

static int run_accept(const char *principal)
{
    OM_uint32 major, minor, ignored;
    gss_cred_id_t cred = acquire_acceptor(principal);
    gss_buffer_desc input;
    char *line = NULL;
    size_t capacity = 0;

    while (read_token(&line, &capacity, &input)) {
        gss_ctx_id_t context = GSS_C_NO_CONTEXT;
        gss_buffer_desc output = GSS_C_EMPTY_BUFFER;

        major = gss_accept_sec_context(&minor, &context, cred, &input,
                                       GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL,
                                       &output, NULL, NULL, NULL);
        print_status(major, minor, &output);
        gss_release_buffer(&ignored, &output);
        if (context != GSS_C_NO_CONTEXT)
            gss_delete_sec_context(&ignored, &context, GSS_C_NO_BUFFER);
    }
    free(line);
    gss_release_cred(&ignored, &cred);
    return 0;
}

static int run_init(const char *principal)
{
    OM_uint32 major, minor, ignored;
    OM_uint32 flags = GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
    gss_name_t target = import_principal(principal);
    gss_buffer_desc input, output;
    char *line = NULL;
    size_t capacity = 0;

    while (getline(&line, &capacity, stdin) >= 0) {
        gss_ctx_id_t context = GSS_C_NO_CONTEXT;

        output.length = 0;
        output.value = NULL;
        major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &context,
                                     target, (gss_OID)gss_mech_krb5, flags, 0,
                                     GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER,
                                     NULL, &output, NULL, NULL);
        if (major != GSS_S_CONTINUE_NEEDED) {
            printf("error gss_init_sec_context failed: major 0x%08x minor %u\n",
                   major, minor);
            return 1;
        }
        printf("token ");
        print_hex(&output);
        printf("\n");
        fflush(stdout);
        gss_release_buffer(&ignored, &output);

        if (!read_token(&line, &capacity, &input)) {
            printf("error missing reply token\n");
            return 1;
        }
        major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &context,
                                     target, (gss_OID)gss_mech_krb5, flags, 0,
                                     GSS_C_NO_CHANNEL_BINDINGS, &input, NULL,
                                     &output, NULL, NULL);
        print_status(major, minor, &output);
        gss_release_buffer(&ignored, &output);
        if (context != GSS_C_NO_CONTEXT)
            gss_delete_sec_context(&ignored, &context, GSS_C_NO_BUFFER);
    }
    free(line);
    gss_release_name(&ignored, &target);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && argc <= 3 && strcmp(argv[1], "accept") == 0)
        return run_accept(argc == 3 ? argv[2] : NULL);
    if (argc == 3 && strcmp(argv[1], "init") == 0)
        return run_init(argv[2]);
    fprintf(stderr, "usage: %s accept [PRINCIPAL] | init PRINCIPAL\n", argv[0]);
    return 2;
}
