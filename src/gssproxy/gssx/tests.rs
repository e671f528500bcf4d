use super::*;

/// Appends an XDR opaque by hand, independently of the encoder under test.
fn opaque(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

fn word(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Builds the arguments exactly as the kernel's gssx_enc_accept_sec_context
/// writes them for an INIT request carrying `token`.
fn kernel_args(token: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    opaque(&mut out, b""); // locale
    opaque(&mut out, b""); // server_ctx
    word(&mut out, 2);
    opaque(&mut out, b"exported_context_type\0");
    opaque(&mut out, b"linux_lucid_v1\0");
    opaque(&mut out, b"exported_creds_type\0");
    opaque(&mut out, b"linux_creds_v1\0");
    word(&mut out, 0); // context_handle absent
    word(&mut out, 0); // cred_handle absent
    opaque(&mut out, token);
    word(&mut out, 0); // input_cb absent
    word(&mut out, 0); // ret_deleg_cred
    word(&mut out, 0); // options
    out
}

#[test]
fn decodes_kernel_init_arguments() {
    let token = [0x60, 0x81, 0x01, 0x02, 0x03];
    let args = AcceptArgs::decode(&kernel_args(&token)).unwrap();

    assert_eq!(args.input_token, token);
    assert!(args.context_handle.is_none());
    assert!(args.cred_handle.is_none());
    assert!(args.input_cb.is_none());
    assert!(!args.ret_deleg_cred);
    assert!(args.call_ctx.wants_lucid_context());
    assert!(args.call_ctx.wants_linux_creds());
}

#[test]
fn encoder_matches_kernel_bytes() {
    let token = vec![0xab; 1001];
    let args = AcceptArgs {
        call_ctx: CallCtx {
            options: vec![
                GssxOption {
                    option: option::EXPORTED_CONTEXT_TYPE.to_vec(),
                    value: option::LINUX_LUCID_V1.to_vec(),
                },
                GssxOption {
                    option: option::EXPORTED_CREDS_TYPE.to_vec(),
                    value: option::LINUX_CREDS_V1.to_vec(),
                },
            ],
            ..CallCtx::default()
        },
        input_token: token.clone(),
        ..AcceptArgs::default()
    };
    assert_eq!(args.encode().unwrap(), kernel_args(&token));
}

#[test]
fn decodes_64_kib_token() {
    let token: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    let args = AcceptArgs::decode(&kernel_args(&token)).unwrap();
    assert_eq!(args.input_token, token);
}

#[test]
fn option_names_without_nul_do_not_match() {
    let mut out = Vec::new();
    opaque(&mut out, b"");
    opaque(&mut out, b"");
    word(&mut out, 1);
    opaque(&mut out, b"exported_context_type");
    opaque(&mut out, b"linux_lucid_v1");
    for _ in 0..2 {
        word(&mut out, 0);
    }
    opaque(&mut out, b"t");
    for _ in 0..3 {
        word(&mut out, 0);
    }
    let args = AcceptArgs::decode(&out).unwrap();
    assert!(!args.call_ctx.wants_lucid_context());
    assert!(!args.call_ctx.wants_linux_creds());
}

#[test]
fn every_truncation_is_an_error() {
    let encoded = kernel_args(&[1, 2, 3, 4, 5, 6, 7]);
    for len in 0..encoded.len() {
        assert!(
            AcceptArgs::decode(&encoded[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut encoded = kernel_args(&[1]);
    encoded.extend_from_slice(&[0, 0, 0, 0]);
    let error = AcceptArgs::decode(&encoded).unwrap_err();
    assert!(error.to_string().contains("trailing"), "{error}");
}

#[test]
fn huge_lengths_and_counts_are_rejected() {
    // A token length of 4 GiB - 1 with four bytes behind it.
    let mut encoded = kernel_args(&[]);
    let token_at = encoded.len() - 16;
    encoded[token_at..token_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(AcceptArgs::decode(&encoded).is_err());

    // An option count of 4 G.
    let mut encoded = kernel_args(&[1]);
    encoded[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    let error = AcceptArgs::decode(&encoded).unwrap_err();
    assert!(
        error.to_string().contains("gssx_call_ctx.options"),
        "{error}"
    );
}

#[test]
fn non_boolean_discriminant_is_rejected() {
    let mut encoded = kernel_args(&[1]);
    // The call context takes 12 bytes of lengths and count, then the two
    // options: 28 + 20 and 24 + 20 bytes with their lengths and padding.
    let at = 12 + 28 + 20 + 24 + 20;
    assert_eq!(&encoded[at..at + 4], &[0, 0, 0, 0]);
    encoded[at + 3] = 2;
    let error = AcceptArgs::decode(&encoded).unwrap_err();
    assert!(error.to_string().contains("context_handle"), "{error}");
}

#[test]
fn decodes_channel_bindings_and_credential_handle() {
    let mut out = Vec::new();
    opaque(&mut out, b"C");
    opaque(&mut out, b"");
    word(&mut out, 0);
    word(&mut out, 0); // context_handle
    word(&mut out, 1); // cred_handle present
    for field in [&b"nfs@server"[..], b"", b"", b""] {
        opaque(&mut out, field);
    }
    word(&mut out, 0); // name_attributes
    word(&mut out, 0); // extensions
    word(&mut out, 0); // elements
    opaque(&mut out, b"ref");
    word(&mut out, 1); // needs_release
    opaque(&mut out, b"tok");
    word(&mut out, 1); // input_cb present
    out.extend_from_slice(&2u64.to_be_bytes());
    opaque(&mut out, &[127, 0, 0, 1]);
    out.extend_from_slice(&0u64.to_be_bytes());
    opaque(&mut out, b"");
    opaque(&mut out, b"tls-server-end-point:x");
    word(&mut out, 1); // ret_deleg_cred
    word(&mut out, 0);

    let args = AcceptArgs::decode(&out).unwrap();
    let cred = args.cred_handle.unwrap();
    assert_eq!(cred.desired_name.display_name, b"nfs@server");
    assert_eq!(cred.cred_handle_reference, b"ref");
    assert!(cred.needs_release);
    let cb = args.input_cb.unwrap();
    assert_eq!(cb.initiator_addrtype, 2);
    assert_eq!(cb.initiator_address, [127, 0, 0, 1]);
    assert_eq!(cb.application_data, b"tls-server-end-point:x");
    assert!(args.ret_deleg_cred);
}

fn sample_result() -> AcceptResult {
    AcceptResult {
        status: Status::default(),
        context_handle: Some(Ctx {
            exported_context_token: vec![0x11; 60],
            mech: krb5::gss::token::KRB5_OID.to_vec(),
            src_name: Name {
                display_name: b"alice@EXAMPLE.ORG".to_vec(),
                ..Name::default()
            },
            targ_name: Name {
                display_name: b"nfs/server.example.org@EXAMPLE.ORG".to_vec(),
                ..Name::default()
            },
            lifetime: 1_800_000_000,
            ctx_flags: 0x32,
            open: true,
            ..Ctx::default()
        }),
        output_token: Some(vec![0x6f; 150]),
        options: vec![LinuxCreds {
            uid: 1000,
            gid: 100,
            groups: vec![100, 27, 4],
        }
        .to_option()
        .unwrap()],
    }
}

/// Reads a result the way the kernel's gssx_dec_accept_sec_context does,
/// returning the exported context, the source display name, the output
/// token and the raw linux_creds_v1 value.
fn kernel_read(body: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut r = Reader::new(body);
    let skip_opaque = |r: &mut Reader<'_>| get_opaque(r, "x", usize::MAX).unwrap().to_vec();
    r.u64("major").unwrap();
    skip_opaque(&mut r);
    r.u64("minor").unwrap();
    for _ in 0..3 {
        skip_opaque(&mut r);
    }
    assert_eq!(r.u32("status options").unwrap(), 0);
    assert_eq!(r.u32("context present").unwrap(), 1);
    let exported = skip_opaque(&mut r);
    skip_opaque(&mut r); // state
    r.u32("needs_release").unwrap();
    assert_eq!(skip_opaque(&mut r), krb5::gss::token::KRB5_OID);
    let mut names = Vec::new();
    for _ in 0..2 {
        names.push(skip_opaque(&mut r));
        for _ in 0..3 {
            skip_opaque(&mut r);
        }
        assert_eq!(r.u32("attrs").unwrap(), 0);
        assert_eq!(r.u32("extensions").unwrap(), 0);
    }
    r.u64("lifetime").unwrap();
    r.u64("flags").unwrap();
    r.u32("locally_initiated").unwrap();
    assert_eq!(r.u32("open").unwrap(), 1);
    assert_eq!(r.u32("ctx options").unwrap(), 0);
    assert_eq!(r.u32("token present").unwrap(), 1);
    let token = skip_opaque(&mut r);
    assert_eq!(r.u32("delegated").unwrap(), 0);
    assert_eq!(r.u32("option count").unwrap(), 1);
    assert_eq!(skip_opaque(&mut r), b"linux_creds_v1\0");
    let creds = skip_opaque(&mut r);
    assert!(r.is_empty());
    (exported, names.swap_remove(0), token, creds)
}

#[test]
fn result_reads_as_the_kernel_reads_it() {
    let result = sample_result();
    let body = result.encode().unwrap();
    let (exported, src, token, creds) = kernel_read(&body);

    assert_eq!(exported, vec![0x11; 60]);
    assert_eq!(src, b"alice@EXAMPLE.ORG");
    assert_eq!(token, vec![0x6f; 150]);
    let mut expected = Vec::new();
    for value in [1000u32, 100, 3, 100, 27, 4] {
        expected.extend_from_slice(&value.to_ne_bytes());
    }
    assert_eq!(creds, expected);

    assert_eq!(AcceptResult::decode(&body).unwrap(), result);
}

#[test]
fn linux_creds_round_trip_and_length_check() {
    let creds = LinuxCreds {
        uid: 4_294_967_294,
        gid: 65_534,
        groups: vec![],
    };
    let option = creds.to_option().unwrap();
    assert_eq!(option.value.len(), 12);
    assert_eq!(LinuxCreds::from_value(&option.value).unwrap(), creds);

    let mut bad = option.value.clone();
    bad.extend_from_slice(&[0; 4]);
    assert!(LinuxCreds::from_value(&bad).is_err());
}

#[test]
fn oversized_fields_are_not_encoded() {
    let mut result = sample_result();
    result.output_token = Some(vec![0; kernel_limit::OUTPUT_TOKEN + 1]);
    let error = result.encode().unwrap_err();
    assert!(error.to_string().contains("output_token"), "{error}");

    let mut result = sample_result();
    if let Some(ctx) = result.context_handle.as_mut() {
        ctx.exported_context_token = vec![0; kernel_limit::EXPORTED_CONTEXT + 1];
    }
    assert!(result.encode().is_err());

    let mut result = sample_result();
    if let Some(ctx) = result.context_handle.as_mut() {
        ctx.src_name.display_name = vec![b'a'; kernel_limit::PRINCIPAL + 1];
    }
    assert!(result.encode().is_err());
}

#[test]
fn result_with_delegated_credentials_is_rejected() {
    let mut body = AcceptResult::default().encode().unwrap();
    let at = body.len() - 8;
    body[at + 3] = 1;
    assert!(AcceptResult::decode(&body).is_err());
}
