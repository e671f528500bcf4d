//! Throughput of this crate's enctypes next to MIT krb5's libk5crypto on
//! the same data in the same run. Run with `cargo bench -p rgssd-krb5`
//! (add `--features legacy-enctypes` for des3 and rc4). libk5crypto.so.3 is
//! loaded at run time; without it the benchmark stops with an error.
//!
//! Each figure is the best of several timed rounds, because other
//! processes on the machine disturb single rounds. String-to-key uses the
//! enctype's default iteration count.

#[path = "../tests/mit_k5crypto/mod.rs"]
mod mit_k5crypto;

use std::hint::black_box;
use std::time::{Duration, Instant};

use krb5::crypto::{self, Key, Profile};
use mit_k5crypto::Mit;

const ROUND: Duration = Duration::from_millis(200);
const ROUNDS: usize = 5;
const USAGE: u32 = 24;

/// Times `ours` and `mit` in alternating rounds of `ROUND` each, `ROUNDS`
/// times, and returns the shortest mean time per call of each, in seconds.
/// Alternating keeps a change in machine load from favouring one side.
fn best_times(mut ours: impl FnMut(), mut mit: impl FnMut()) -> (f64, f64) {
    ours();
    mit();
    let mut best = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        best.0 = best.0.min(mean_time(&mut ours));
        best.1 = best.1.min(mean_time(&mut mit));
    }
    best
}

fn mean_time(operation: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < ROUND {
        operation();
        calls += 1;
    }
    start.elapsed().as_secs_f64() / calls as f64
}

fn megabytes_per_second(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e6
}

fn print_row(enctype: &str, operation: &str, ours: f64, mit: f64, unit: &str) {
    println!(
        "| {enctype:<28} | {operation:<22} | {ours:>10.1} | {mit:>10.1} | {unit:<5} | {ratio:>5.2} |",
        ratio = ours / mit
    );
}

fn bench_profile(mit: &Mit, profile: &Profile) {
    let enctype = profile.enctype;
    let key = Key::random(enctype).expect("random key");
    let mit_key = mit.create_key(enctype, key.bytes()).expect("MIT key");
    let usage = USAGE as i32;

    for size in [1024, 65536] {
        let plaintext = vec![0x5a; size];
        let label = if size == 1024 { "1 KiB" } else { "64 KiB" };

        let ciphertext = key.encrypt(USAGE, &plaintext).expect("encrypt");
        let mut mit_out = vec![0u8; mit_key.encrypt_length(size).expect("length")];
        let mut mit_plain = vec![0u8; mit_out.len()];
        let (ours_encrypt, mit_encrypt) = best_times(
            || {
                black_box(key.encrypt(USAGE, black_box(&plaintext)).expect("encrypt"));
            },
            || {
                black_box(
                    mit_key
                        .encrypt_into(usage, black_box(&plaintext), &mut mit_out)
                        .expect("MIT encrypt"),
                );
            },
        );

        let mit_ciphertext = mit_out.clone();
        let (ours_decrypt, mit_decrypt) = best_times(
            || {
                black_box(key.decrypt(USAGE, black_box(&ciphertext)).expect("decrypt"));
            },
            || {
                black_box(
                    mit_key
                        .decrypt_into(usage, black_box(&mit_ciphertext), &mut mit_plain)
                        .expect("MIT decrypt"),
                );
            },
        );

        let mb = |seconds| megabytes_per_second(size, seconds);
        print_row(
            profile.name,
            &format!("encrypt {label}"),
            mb(ours_encrypt),
            mb(mit_encrypt),
            "MB/s",
        );
        print_row(
            profile.name,
            &format!("decrypt {label}"),
            mb(ours_decrypt),
            mb(mit_decrypt),
            "MB/s",
        );
        print_row(
            profile.name,
            &format!("encrypt+decrypt {label}"),
            mb(ours_encrypt + ours_decrypt),
            mb(mit_encrypt + mit_decrypt),
            "MB/s",
        );
    }

    let data = vec![0xa5; 65536];
    let (ours_checksum, mit_checksum) = best_times(
        || {
            black_box(key.checksum(USAGE, black_box(&data)).expect("checksum"));
        },
        || {
            black_box(
                mit_key
                    .checksum(profile.cksumtype, usage, black_box(&data))
                    .expect("MIT checksum"),
            );
        },
    );
    print_row(
        profile.name,
        "checksum 64 KiB",
        megabytes_per_second(data.len(), ours_checksum),
        megabytes_per_second(data.len(), mit_checksum),
        "MB/s",
    );

    let salt = b"EXAMPLE.COMnfs";
    let (ours_s2k, mit_s2k) = best_times(
        || {
            black_box(
                Key::from_password(enctype, b"correct horse", salt, None).expect("string-to-key"),
            );
        },
        || {
            black_box(
                mit.string_to_key(enctype, b"correct horse", salt, None)
                    .expect("MIT string-to-key"),
            );
        },
    );
    print_row(
        profile.name,
        "string-to-key",
        1.0 / ours_s2k,
        1.0 / mit_s2k,
        "key/s",
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects enctypes by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));

    let mit = match Mit::load() {
        Ok(mit) => mit,
        Err(e) => {
            eprintln!("error: MIT libk5crypto is needed for the comparison: {e}");
            std::process::exit(1);
        }
    };

    println!("| enctype                      | operation              |       ours |        MIT | unit  | ratio |");
    println!("|------------------------------|------------------------|-----------:|-----------:|-------|------:|");
    for profile in crypto::profile::all() {
        if filter.as_deref().is_some_and(|f| !profile.name.contains(f)) {
            continue;
        }
        bench_profile(&mit, profile);
    }
}
