use krb5::credentials::{ticket_flags, AuthData};
use krb5::crypto::Key;
use krb5::messages::{self, EncryptedData, Ticket};
use rasn::types::Integer;

use super::*;

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}

fn parse(text: &str) -> Result<KlistOptions, Vec<String>> {
    parse_args("klist", &words(text))
}

#[test]
fn parse_combined_keytab_flags() {
    let options = parse("-ket FILE:/etc/krb5.keytab").unwrap();
    assert_eq!(options.mode, Mode::Keytab);
    assert!(options.show_enctypes);
    assert!(options.show_timestamps);
    assert_eq!(options.name.as_deref(), Some("FILE:/etc/krb5.keytab"));
}

#[test]
fn parse_cache_flags_and_operand() {
    let options = parse("-c -e -f -A /tmp/cc").unwrap();
    assert_eq!(options.mode, Mode::Cache);
    assert!(options.show_enctypes && options.show_flags && options.show_collection);
    assert_eq!(options.name.as_deref(), Some("/tmp/cc"));

    let options = parse("").unwrap();
    assert_eq!(options, KlistOptions::default());
}

#[test]
fn parse_rejects_conflicts() {
    let cases = [
        ("-c -k", "klist: -c and -k cannot be combined"),
        ("-n", "klist: -n requires -a"),
        (
            "-k -f",
            "klist: -f applies to credential caches, not to keytabs (-k)",
        ),
        (
            "-k -s",
            "klist: -s applies to credential caches, not to keytabs (-k)",
        ),
        ("-t", "klist: -t applies to keytabs only; add -k"),
        ("-K", "klist: -K applies to keytabs only; add -k"),
        ("-l -A", "klist: -l and -A cannot be combined"),
        ("-l -s", "klist: -l and -s cannot be combined"),
        ("a b", "Extra arguments (starting with \"b\")."),
        ("-x", "klist: invalid option -- 'x'"),
    ];
    for (args, message) in cases {
        assert_eq!(parse(args), Err(vec![message.to_string()]), "{args}");
    }
}

fn principal(text: &str) -> Principal {
    Principal::parse(text, None).unwrap()
}

fn ticket_der(server: &str, enctype: i32) -> Vec<u8> {
    let (sname, realm) = messages::convert::principal_name(&principal(server)).unwrap();
    let ticket = Ticket {
        tkt_vno: Integer::from(5),
        realm,
        sname,
        enc_part: EncryptedData {
            etype: enctype,
            kvno: Some(1),
            cipher: vec![0x5a; 64].into(),
        },
    };
    messages::encode(&ticket, "Ticket").unwrap()
}

fn credential(client: &str, server: &str, start: u32, end: u32, renew: u32) -> Credential {
    Credential {
        client: principal(client),
        server: principal(server),
        session_key: Key::from_raw(18, vec![0; 32]),
        authtime: start,
        starttime: start,
        endtime: end,
        renew_till: renew,
        is_skey: false,
        flags: ticket_flags::FORWARDABLE
            | ticket_flags::RENEWABLE
            | ticket_flags::INITIAL
            | ticket_flags::PRE_AUTHENT,
        addresses: Vec::new(),
        authdata: Vec::new(),
        ticket: ticket_der(server, 17),
        second_ticket: Vec::new(),
    }
}

fn render(credentials: &[Credential], args: &str) -> String {
    let options = parse(args).unwrap();
    let default = principal("alice@EXAMPLE.TEST");
    let view = CacheView {
        full_name: "FILE:/tmp/krb5cc_1000",
        default_principal: &default,
        credentials,
    };
    let mut out = Vec::new();
    write_cache(&mut out, &view, &options, &TimeZone::utc()).unwrap();
    String::from_utf8(out).unwrap()
}

const START: u32 = 1_796_420_986;
const END: u32 = START + 36_000;
const RENEW: u32 = START + 86_400;

#[test]
fn cache_listing_matches_mit() {
    let tgt = credential(
        "alice@EXAMPLE.TEST",
        "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
        START,
        END,
        RENEW,
    );
    let service = credential("alice@EXAMPLE.TEST", "nfs/vm@EXAMPLE.TEST", START, END, 0);
    let expected = "\
Ticket cache: FILE:/tmp/krb5cc_1000
Default principal: alice@EXAMPLE.TEST

Valid starting     Expires            Service principal
12/04/26 21:49:46  12/05/26 07:49:46  krbtgt/EXAMPLE.TEST@EXAMPLE.TEST
\trenew until 12/05/26 21:49:46
12/04/26 21:49:46  12/05/26 07:49:46  nfs/vm@EXAMPLE.TEST
";
    assert_eq!(render(&[tgt, service], ""), expected);
}

#[test]
fn cache_listing_with_flags_and_enctypes() {
    let tgt = credential(
        "alice@EXAMPLE.TEST",
        "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
        START,
        END,
        RENEW,
    );
    let body = render(std::slice::from_ref(&tgt), "-f");
    assert!(
        body.ends_with("\trenew until 12/05/26 21:49:46, Flags: FRIA\n"),
        "{body}"
    );
    let body = render(std::slice::from_ref(&tgt), "-e");
    assert!(
        body.ends_with(
            "\trenew until 12/05/26 21:49:46, Etype (skey, tkt): aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96 \n"
        ),
        "{body}"
    );
    let body = render(std::slice::from_ref(&tgt), "-ef");
    assert!(
        body.ends_with(
            "\trenew until 12/05/26 21:49:46, Flags: FRIA\n\tEtype (skey, tkt): aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96 \n"
        ),
        "{body}"
    );
}

#[test]
fn cache_listing_other_client_and_no_renewal() {
    let mut service = credential("bob@EXAMPLE.TEST", "nfs/vm@EXAMPLE.TEST", START, END, 0);
    service.flags = 0;
    let body = render(std::slice::from_ref(&service), "-f");
    assert!(
        body.ends_with("nfs/vm@EXAMPLE.TEST\n\tfor client bob@EXAMPLE.TEST\n"),
        "{body}"
    );
}

#[test]
fn cache_listing_addresses_authdata_and_referral() {
    let mut service = credential("alice@EXAMPLE.TEST", "nfs/vm@", START, END, 0);
    service.server = principal("nfs/vm@EXAMPLE.TEST");
    service.ticket = ticket_der("nfs/vm.example.test@EXAMPLE.TEST", 18);
    service.flags = 0;
    service.addresses = vec![
        HostAddress {
            addr_type: 2,
            address: vec![192, 0, 2, 1],
        },
        HostAddress {
            addr_type: 24,
            address: vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        },
        HostAddress {
            addr_type: 2,
            address: vec![1, 2, 3],
        },
    ];
    service.authdata = vec![AuthData {
        ad_type: 1,
        data: vec![],
    }];
    let body = render(std::slice::from_ref(&service), "-d -a");
    assert!(
        body.ends_with(
            "nfs/vm@EXAMPLE.TEST\n\tAD types: 1\n\tAddresses: 192.0.2.1, 2001:db8::1, broken address (type 2 length 3)\n\tTicket server: nfs/vm.example.test@EXAMPLE.TEST\n"
        ),
        "{body}"
    );
}

#[test]
fn starttime_zero_shows_authtime() {
    let mut service = credential("alice@EXAMPLE.TEST", "nfs/vm@EXAMPLE.TEST", START, END, 0);
    service.starttime = 0;
    service.authtime = START - 60;
    let body = render(std::slice::from_ref(&service), "");
    assert!(
        body.contains("12/04/26 21:48:46  12/05/26 07:49:46"),
        "{body}"
    );
}

#[test]
fn config_entries_hidden_unless_requested() {
    let mut config = credential(
        "alice@EXAMPLE.TEST",
        "krb5_ccache_conf_data/pa_type/krbtgt\\/EXAMPLE.TEST\\@EXAMPLE.TEST@X-CACHECONF:",
        0,
        0,
        0,
    );
    config.ticket = b"2".to_vec();
    let body = render(std::slice::from_ref(&config), "");
    assert!(body.ends_with("Service principal\n"), "{body}");

    let body = render(std::slice::from_ref(&config), "-C");
    assert!(
        body.ends_with("config: pa_type(krbtgt/EXAMPLE.TEST@EXAMPLE.TEST) = 2\n"),
        "{body}"
    );
}

#[test]
fn config_data_escapes_and_wraps() {
    assert_eq!(config_data_text(10, b"a b\x01"), "a\\040b\\001\n");
    let long = config_data_text(0, &[b'x'; 70]);
    assert_eq!(
        long,
        format!("        {}\n{}\n", "x".repeat(65), "        xxxxx")
    );
}

#[test]
fn current_tickets_rule() {
    let alice = principal("alice@EXAMPLE.TEST");
    let tgt = credential(
        "alice@EXAMPLE.TEST",
        "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
        START,
        END,
        0,
    );
    let service = credential(
        "alice@EXAMPLE.TEST",
        "nfs/vm@EXAMPLE.TEST",
        START,
        END + 100,
        0,
    );

    assert!(has_current_tickets(
        &alice,
        std::slice::from_ref(&tgt),
        END - 1
    ));
    assert!(!has_current_tickets(
        &alice,
        std::slice::from_ref(&tgt),
        END
    ));
    // An expired local TGT fails the check even with a current service ticket.
    assert!(!has_current_tickets(&alice, &[tgt, service.clone()], END));
    assert!(has_current_tickets(
        &alice,
        std::slice::from_ref(&service),
        END
    ));
    assert!(!has_current_tickets(&alice, &[], START));
}

#[test]
fn keytab_listing_matches_mit() {
    let entry = |enctype: i32, key: Vec<u8>| KeytabEntry {
        principal: principal("nfs/vm@EXAMPLE.TEST"),
        timestamp: START - 2,
        kvno: 1,
        key: Key::from_raw(enctype, key),
    };
    let entries = [entry(18, vec![0xab; 32]), entry(17, vec![0x01; 16])];

    let mut out = Vec::new();
    let options = parse("-k -t -e").unwrap();
    write_keytab_entries(&mut out, &entries, &options, &TimeZone::utc()).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\
KVNO Timestamp         Principal
---- ----------------- --------------------------------------------------------
   1 12/04/26 21:49:44 nfs/vm@EXAMPLE.TEST (aes256-cts-hmac-sha1-96) 
   1 12/04/26 21:49:44 nfs/vm@EXAMPLE.TEST (aes128-cts-hmac-sha1-96) 
"
    );

    let mut out = Vec::new();
    let options = parse("-k -K").unwrap();
    write_keytab_entries(&mut out, &entries[1..], &options, &TimeZone::utc()).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\
KVNO Principal
---- --------------------------------------------------------------------------
   1 nfs/vm@EXAMPLE.TEST (0x01010101010101010101010101010101)
"
    );
}

#[test]
fn keytab_error_texts() {
    let missing = KeytabError::Read {
        path: "/nonexist".into(),
        source: io::Error::from(io::ErrorKind::NotFound),
    };
    assert_eq!(
        keytab_error_text(&missing),
        "Key table file '/nonexist' not found"
    );
    let denied = KeytabError::Read {
        path: "/etc/krb5.keytab".into(),
        source: io::Error::from_raw_os_error(13),
    };
    assert_eq!(
        keytab_error_text(&denied),
        "Permission denied (keytab /etc/krb5.keytab)"
    );
}

#[test]
fn empty_authdata_still_labelled() {
    let service = credential(
        "alice@EXAMPLE.TEST",
        "nfs/vm@EXAMPLE.TEST",
        START,
        END,
        RENEW,
    );
    let body = render(std::slice::from_ref(&service), "-d");
    assert!(
        body.ends_with("\trenew until 12/05/26 21:49:46, AD types: \n"),
        "{body}"
    );
}
