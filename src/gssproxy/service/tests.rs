use super::*;
use crate::kernel::rpcsec::Identity;
use crate::svcgssd::handler::tests::{recorded_request, server, RECORDED_AT};

/// Returns the AP-REQ that Linux 6.12's client sent for MIT's rpc.gssd with the
/// machine credentials of nfs/nfs.example.test.
fn recorded_token() -> Vec<u8> {
    recorded_request().token
}

fn opaque(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// Builds a call exactly as the kernel's gssp_accept_sec_context_upcall sends it.
fn kernel_call(xid: u32, procedure: u32, token: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [
        xid,
        0,
        2,
        gssx::PROGRAM,
        gssx::VERSION,
        procedure,
        0,
        0,
        0,
        0,
    ] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    opaque(&mut out, b"");
    opaque(&mut out, b"");
    out.extend_from_slice(&2u32.to_be_bytes());
    opaque(&mut out, b"exported_context_type\0");
    opaque(&mut out, b"linux_lucid_v1\0");
    opaque(&mut out, b"exported_creds_type\0");
    opaque(&mut out, b"linux_creds_v1\0");
    out.extend_from_slice(&[0; 8]); // no context or credential handle
    opaque(&mut out, token);
    out.extend_from_slice(&[0; 12]); // no bindings, no delegation, no options
    out
}

/// Splits an accepted SUCCESS reply into its xid and results.
fn success_body(reply: &[u8]) -> (u32, AcceptResult) {
    let xid = u32::from_be_bytes(reply[0..4].try_into().unwrap());
    assert_eq!(
        &reply[4..24],
        &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    (xid, AcceptResult::decode(&reply[24..]).unwrap())
}

#[test]
fn accepts_recorded_kernel_token() {
    let identity = Identity {
        uid: 1001,
        gid: 100,
        groups: vec![100, 27],
    };
    let call = kernel_call(0x51, gssx::PROC_ACCEPT_SEC_CONTEXT, &recorded_token());
    let reply = handle_message(&server(identity), &call, (RECORDED_AT, 0)).unwrap();
    let (xid, result) = success_body(&reply);

    assert_eq!(xid, 0x51);
    assert_eq!(result.status.major_status, 0);
    let context = result.context_handle.as_ref().unwrap();
    assert_eq!(context.mech, krb5::gss::token::KRB5_OID);
    assert_eq!(context.exported_context_token.len(), 52);
    assert_eq!(
        &context.exported_context_token[16..20],
        &20i32.to_ne_bytes()
    );
    assert_eq!(
        context.src_name.display_name,
        b"nfs/nfs.example.test@EXAMPLE.TEST"
    );
    assert!(context.open);
    assert!(!context.locally_initiated);
    assert_eq!(result.output_token.as_ref().unwrap()[0], 0x60);

    let creds = result.option(gssx::option::LINUX_CREDS_V1).unwrap();
    let creds = LinuxCreds::from_value(creds).unwrap();
    assert_eq!(creds.uid, 1001);
    assert_eq!(creds.gid, 100);
    assert_eq!(creds.groups, [100, 27]);
}

#[test]
fn unmapped_client_gets_invalid_ids() {
    let call = kernel_call(1, gssx::PROC_ACCEPT_SEC_CONTEXT, &recorded_token());
    let reply = handle_message(&server(Identity::unmapped()), &call, (RECORDED_AT, 0)).unwrap();
    let (_, result) = success_body(&reply);
    let creds = result.option(gssx::option::LINUX_CREDS_V1).unwrap();
    let creds = LinuxCreds::from_value(creds).unwrap();
    assert_eq!(creds.uid, u32::MAX);
    assert_eq!(creds.gid, u32::MAX);
    assert!(creds.groups.is_empty());
}

#[test]
fn replayed_and_garbage_tokens_fail_with_status() {
    let server = server(Identity::unmapped());
    let call = kernel_call(1, gssx::PROC_ACCEPT_SEC_CONTEXT, &recorded_token());
    handle_message(&server, &call, (RECORDED_AT, 0)).unwrap();

    let reply = handle_message(&server, &call, (RECORDED_AT, 0)).unwrap();
    let (_, replayed) = success_body(&reply);
    assert_eq!(replayed.status.major_status, u64::from(major::FAILURE));
    assert!(replayed.context_handle.is_none());
    assert!(replayed.options.is_empty());

    let call = kernel_call(2, gssx::PROC_ACCEPT_SEC_CONTEXT, b"garbage");
    let reply = handle_message(&server, &call, (RECORDED_AT, 0)).unwrap();
    let (_, garbage) = success_body(&reply);
    assert_eq!(
        garbage.status.major_status,
        u64::from(major::DEFECTIVE_TOKEN)
    );
    assert_eq!(garbage.output_token.as_deref(), Some(&[][..]));
}

#[test]
fn expired_ticket_returns_error_token() {
    let call = kernel_call(3, gssx::PROC_ACCEPT_SEC_CONTEXT, &recorded_token());
    let reply = handle_message(
        &server(Identity::unmapped()),
        &call,
        (RECORDED_AT + 86_400 * 2, 0),
    )
    .unwrap();
    let (_, result) = success_body(&reply);
    // MIT's acceptor reports an expired ticket as GSS_S_FAILURE with the
    // Kerberos error KRB_AP_ERR_TKT_EXPIRED (32) as minor status.
    assert_eq!(result.status.major_status, u64::from(major::FAILURE));
    assert_eq!(
        result.status.minor_status,
        u64::from(krb5::gss::status::krb5_minor(32))
    );
    let token = result.output_token.unwrap();
    assert_eq!(token[0], 0x60, "a KRB-ERROR token for the client");
}

#[test]
fn other_procedures_and_programs_are_rejected() {
    let server = server(Identity::unmapped());

    let reply = handle_message(&server, &kernel_call(4, 8, b""), (RECORDED_AT, 0)).unwrap();
    assert_eq!(&reply[20..24], &[0, 0, 0, 3], "PROC_UNAVAIL");

    let reply = handle_message(&server, &kernel_call(5, 0, b""), (RECORDED_AT, 0)).unwrap();
    assert_eq!(&reply[20..], &[0, 0, 0, 0], "NULL succeeds");

    let mut call = kernel_call(6, 9, b"");
    call[12..16].copy_from_slice(&100_003u32.to_be_bytes());
    let reply = handle_message(&server, &call, (RECORDED_AT, 0)).unwrap();
    assert_eq!(&reply[20..24], &[0, 0, 0, 1], "PROG_UNAVAIL");

    let mut call = kernel_call(7, 9, b"");
    call[16..20].copy_from_slice(&2u32.to_be_bytes());
    let reply = handle_message(&server, &call, (RECORDED_AT, 0)).unwrap();
    assert_eq!(&reply[20..], &[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1]);
}

#[test]
fn hostile_arguments_get_garbage_args() {
    let server = server(Identity::unmapped());
    let call = kernel_call(8, 9, &[1, 2, 3]);
    for len in 40..call.len() {
        let reply = handle_message(&server, &call[..len], (RECORDED_AT, 0)).unwrap();
        assert_eq!(&reply[20..24], &[0, 0, 0, 4], "prefix of {len} bytes");
    }

    let mut huge = kernel_call(9, 9, &[]);
    let count_at = 40 + 8;
    huge[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let reply = handle_message(&server, &huge, (RECORDED_AT, 0)).unwrap();
    assert_eq!(&reply[20..24], &[0, 0, 0, 4]);

    assert!(handle_message(&server, &[0, 0], (RECORDED_AT, 0)).is_none());
}

#[test]
fn context_handle_and_bindings_are_rejected() {
    let server = server(Identity::unmapped());
    let mut args = AcceptArgs::decode(&kernel_call(1, 9, &recorded_token())[40..]).unwrap();
    args.input_cb = Some(gssx::ChannelBindings::default());
    let result = accept_result(&server, &args, (RECORDED_AT, 0));
    assert_eq!(result.status.major_status, u64::from(major::BAD_BINDINGS));

    args.input_cb = None;
    args.context_handle = Some(Ctx::default());
    let result = accept_result(&server, &args, (RECORDED_AT, 0));
    assert_eq!(result.status.major_status, u64::from(major::NO_CONTEXT));

    args.context_handle = None;
    args.call_ctx.options.clear();
    let result = accept_result(&server, &args, (RECORDED_AT, 0));
    assert_eq!(result.status.major_status, u64::from(major::FAILURE));
}

#[test]
fn bind_replaces_stale_socket_only() {
    let dir = std::env::temp_dir().join(format!("rgssd-gssproxy-bind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gssproxy.sock");
    let _ = std::fs::remove_file(&path);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let first = bind_socket(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let error = bind_socket(&path).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        drop(first);
        // The socket file of a closed listener is stale and gets replaced.
        bind_socket(&path).unwrap();
    });

    let file = dir.join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let error = runtime.block_on(async { bind_socket(&file).unwrap_err() });
    assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn socket_serves_concurrent_calls_and_big_tokens() {
    let dir = std::env::temp_dir().join(format!("rgssd-gssproxy-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gssproxy.sock");
    let listener = bind_socket(&path).unwrap();
    let server = Arc::new(server(Identity::unmapped()));
    let source: ServerSource = Arc::new(move || Arc::clone(&server));
    let (_shutdown, stop) = watch::channel(false);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let serving = tokio::spawn(serve(source, listener, stop, in_flight));

    let mut stream = UnixStream::connect(&path).await.unwrap();
    let big_token = vec![0x60; 70_000];
    for xid in 1..=4u32 {
        let token = if xid % 2 == 0 {
            &big_token[..]
        } else {
            b"junk"
        };
        record::write_record(&mut stream, &kernel_call(xid, 9, token))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        let reply = record::read_record(&mut stream, 1 << 20)
            .await
            .unwrap()
            .unwrap();
        let (xid, result) = success_body(&reply);
        assert_eq!(
            result.status.major_status,
            u64::from(major::DEFECTIVE_TOKEN),
            "xid {xid}"
        );
        seen.push(xid);
    }
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3, 4]);

    serving.abort();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Waits up to ten seconds for `done`, checking every 10 ms.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn shutdown_answers_call_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = std::env::temp_dir().join(format!("rgssd-gssproxy-stop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gssproxy.sock");
    let listener = bind_socket(&path).unwrap();
    let server = Arc::new(server(Identity::unmapped()));
    let source: ServerSource = Arc::new(move || Arc::clone(&server));
    let (shutdown, stop) = watch::channel(false);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let serving = tokio::spawn(serve(source, listener, stop, Arc::clone(&in_flight)));

    // The first half of a call is in flight on one connection; another
    // connection is idle.
    let mut busy = UnixStream::connect(&path).await.unwrap();
    let mut idle = UnixStream::connect(&path).await.unwrap();
    let mut call = Vec::new();
    call.extend_from_slice(&[0; 4]);
    call.extend_from_slice(&kernel_call(11, 9, b"junk"));
    let length = (call.len() - 4) as u32 | 0x8000_0000;
    call[..4].copy_from_slice(&length.to_be_bytes());
    let (head, tail) = call.split_at(call.len() / 2);
    busy.write_all(head).await.unwrap();
    wait_until("the call is counted", || {
        in_flight.load(Ordering::SeqCst) == 1
    })
    .await;

    shutdown.send_replace(true);
    // No new connection is taken.
    let socket = path.clone();
    let mut refused = false;
    for _ in 0..1000 {
        if UnixStream::connect(&socket).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener still accepts after shutdown");
    // The idle connection is closed without a reply.
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "{} bytes", rest.len());

    // The call in flight is read to its end and gets its reply.
    busy.write_all(tail).await.unwrap();
    let reply = record::read_record(&mut busy, 1 << 20)
        .await
        .unwrap()
        .expect("a reply to the call in flight");
    let (xid, result) = success_body(&reply);
    assert_eq!(xid, 11);
    assert_eq!(
        result.status.major_status,
        u64::from(major::DEFECTIVE_TOKEN)
    );
    let finished = tokio::time::timeout(std::time::Duration::from_secs(10), serving)
        .await
        .expect("serve returns once the call in flight is answered");
    finished.unwrap().unwrap();
    assert_eq!(in_flight.load(Ordering::SeqCst), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn overlong_name_is_sent_empty() {
    let long = "u".repeat(300) + "@EXAMPLE.TEST";
    assert!(display_name(&long).display_name.is_empty());
    let short = "alice@EXAMPLE.TEST";
    assert_eq!(display_name(short).display_name, short.as_bytes());
}
