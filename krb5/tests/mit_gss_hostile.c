/*
 * Feeds context tokens to MIT's gss_accept_sec_context and prints the
 * status of each, so that gss_hostile.rs can compare MIT's verdicts on
 * hostile tokens with ours. Driven over stdin and stdout:
 *
 *   mit_gss_accept [PRINCIPAL]
 *
 * The acceptor credential comes from the KRB5_KTNAME keytab, for PRINCIPAL
 * (a krb5 principal name) when given, else for any key in the keytab. Each
 * input line is one token in hex, accepted with a fresh context and the one
 * credential, so that MIT's replay cache records every token. Each token gets
 * one output line:
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

static gss_cred_id_t acquire(const char *principal)
{
    OM_uint32 major, minor;
    gss_name_t name = GSS_C_NO_NAME;
    gss_buffer_desc buffer;
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;

    if (principal != NULL) {
        buffer.value = (void *)principal;
        buffer.length = strlen(principal);
        major = gss_import_name(&minor, &buffer, GSS_KRB5_NT_PRINCIPAL_NAME,
                                &name);
        if (GSS_ERROR(major)) {
            printf("error gss_import_name failed: major 0x%08x minor %u\n",
                   major, minor);
            exit(1);
        }
    }
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

int main(int argc, char **argv)
{
    OM_uint32 major, minor, ignored;
    gss_cred_id_t cred;
    char *line = NULL;
    size_t capacity = 0, i;

    if (argc > 2) {
        fprintf(stderr, "usage: %s [PRINCIPAL]\n", argv[0]);
        return 2;
    }
    cred = acquire(argc == 2 ? argv[1] : NULL);

    while (getline(&line, &capacity, stdin) >= 0) {
        gss_ctx_id_t context = GSS_C_NO_CONTEXT;
        gss_buffer_desc input, output = GSS_C_EMPTY_BUFFER;
        long length = decode_hex(line);

        if (length < 0) {
            printf("error invalid hex input line\n");
            return 1;
        }
        input.value = line;
        input.length = (size_t)length;
        major = gss_accept_sec_context(&minor, &context, cred, &input,
                                       GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL,
                                       &output, NULL, NULL, NULL);
        printf("status 0x%08x %u ", major, minor);
        if (output.length == 0)
            printf("-");
        for (i = 0; i < output.length; i++)
            printf("%02x", ((unsigned char *)output.value)[i]);
        if (GSS_ERROR(major)) {
            print_messages(major, GSS_C_GSS_CODE);
            print_messages(minor, GSS_C_MECH_CODE);
        }
        printf("\n");
        fflush(stdout);
        gss_release_buffer(&ignored, &output);
        if (context != GSS_C_NO_CONTEXT)
            gss_delete_sec_context(&ignored, &context, GSS_C_NO_BUFFER);
    }
    free(line);
    gss_release_cred(&ignored, &cred);
    return 0;
}
