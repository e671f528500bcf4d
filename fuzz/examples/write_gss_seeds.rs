//! Writes the seeds of the GSS-API fuzz targets into `seeds/` from the fixed
//! keys of the fixture: `cargo run --example write_gss_seeds` in `fuzz/`.
//! The tokens hold random confounders and subkeys, so each run writes
//! different bytes that are equally valid.

use std::fs;
use std::path::Path;

use krb5::gss::acceptor::accept_sec_context;
use krb5::gss::checksum::flags;
use krb5::gss::initiator::{InitStep, RPCSEC_GSS_FLAGS};
use krb5::gss::mic::get_mic;
use krb5::gss::replay::ReplayCache;
use krb5::gss::token::{self, tok_id, KRB5_OID};
use rgssd_fuzz::{acceptor_options, credential, init, keytab, mic_key, MIC_MESSAGE};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let credential = credential();
    let mutual = match init(&credential, RPCSEC_GSS_FLAGS) {
        InitStep::ContinueNeeded(_, token) => token,
        InitStep::Complete(..) => unreachable!("mutual authentication needs an AP-REP"),
    };
    let no_mutual = match init(&credential, RPCSEC_GSS_FLAGS & !flags::MUTUAL) {
        InitStep::Complete(_, token) => token,
        InitStep::ContinueNeeded(..) => unreachable!("no AP-REP without mutual authentication"),
    };
    write("gss_accept", "ap-req-mutual", &mutual);
    write("gss_accept", "ap-req-no-mutual", &no_mutual);

    let accepted = accept_sec_context(&keytab(), &ReplayCache::new(), &acceptor_options(), &mutual)
        .map_err(|rejected| rejected.error)
        .unwrap();
    write("gss_ap_rep", "ap-rep", &accepted.output_token);
    // A KRB-ERROR token as our acceptor sends it for a clock skew, from
    // a token whose authenticator time is an hour late.
    let mut late = acceptor_options();
    late.now.0 += 3600;
    let rejected = accept_sec_context(&keytab(), &ReplayCache::new(), &late, &mutual).unwrap_err();
    write(
        "gss_ap_rep",
        "krb-error-skew",
        &rejected.output_token.unwrap(),
    );
    let (_, ap_rep) = token::unwrap_krb5(&accepted.output_token).unwrap();
    write(
        "gss_ap_rep",
        "ap-rep-as-ap-req",
        &token::wrap(KRB5_OID, tok_id::AP_REQ, ap_rep),
    );

    for selector in [0u8, 1, 2, 3, 4, 5, 8 | 16 | 1, 8 | 16 | 3, 16 | 5] {
        let (key, flags) = mic_key(selector);
        let mut input = vec![selector];
        input.extend(get_mic(&key, flags, 0x1234_5678, MIC_MESSAGE).unwrap());
        write("gss_mic", &format!("mic-{selector:02x}"), &input);
    }
}
