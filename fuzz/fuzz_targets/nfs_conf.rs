//! nfs.conf and idmapd.conf text, with the typed getters rpc.gssd and
//! rpc.svcgssd use.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgssd::config::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    // `include = FILE` reads FILE from the file system, and a fuzzer that
    // finds `include=/dev/zero` would exhaust memory. With every '/'
    // replaced, an include can name only a file in the directory of the
    // parsed file, which does not exist.
    let text = if text.to_ascii_lowercase().contains("include") {
        text.replace('/', "_")
    } else {
        text.to_string()
    };
    let config = Config::parse_str(&text, Path::new("/nonexistent-rgssd-fuzz/nfs.conf"));

    let _ = config.warnings();
    let _ = config.dump();
    for section in ["gssd", "svcgssd", "general", "General", "Mapping"] {
        for key in config.get_keys(section, None) {
            let _ = config.get_str(section, None, &key);
            let _ = config.get_bool(section, &key, false);
            let _ = config.get_num(section, &key, 0);
            let _ = config.get_list(section, &key);
        }
    }
    let _ = config.get_str("gssd", Some("krb5"), "keytab-file");
});
