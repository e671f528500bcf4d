//! KDC replies as they arrive over UDP or TCP: AS-REP, TGS-REP and
//! KRB-ERROR, and the METHOD-DATA and ETYPE-INFO2 that a KRB-ERROR's e-data
//! and an AS-REP's padata carry.
#![no_main]

use krb5::messages::{decode_kdc_reply, decode_krb_error, padata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_kdc_reply(data);
    let _ = decode_krb_error(data);
    let _ = padata::decode_method_data(data);
    let _ = padata::decode_etype_info2(data);
});
