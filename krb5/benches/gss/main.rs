//! GSS-API krb5 context establishment, this crate next to MIT's
//! libgssapi_krb5.so.2 in the same process and run. Run with
//! `cargo bench -p rgssd-krb5 --bench gss`; a name filter argument selects
//! enctypes. MIT's library is loaded at run time; without it the benchmark
//! stops with an error.
//!
//! Tickets are minted here under service keys that a keytab file holds, so
//! no KDC runs. Every accepted token is a fresh AP-REQ from this crate's
//! initiator (a new authenticator with a new subkey and confounder), made
//! before the timed batch that uses it.
//!
//! - Acceptor: accept the token, build the AP-REP (mutual authentication),
//!   and export the context in lucid form, as rpc.svcgssd does.
//! - Initiator: with the service ticket already cached, make the AP-REQ,
//!   then check the AP-REP and export the context in lucid form, as
//!   rpc.gssd does. The AP-REP comes from this crate's acceptor, which is
//!   left out of the timing.

mod mit_gss;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use krb5::ccache::file::{self as ccache_file, CacheFile};
use krb5::credentials::Credential;
use krb5::crypto::Key;
use krb5::gss::acceptor::{accept_sec_context, AcceptorOptions};
use krb5::gss::initiator::{init_sec_context, InitStep, InitiatorOptions, RPCSEC_GSS_FLAGS};
use krb5::gss::replay::ReplayCache;
use krb5::iana::enctype;
use krb5::keytab::{Keytab, KeytabEntry};
use krb5::testing::TicketSpec;
use krb5::Principal;
use mit_gss::MitGss;

const REALM: &str = "EXAMPLE.TEST";
const SERVICE: &str = "nfs/server.example.test";
const CLIENT: &str = "alice";
const KVNO: u32 = 2;
/// The enctypes measured, and the list offered to the acceptor in RFC 4537
/// negotiation, as the kernel's list would be.
const ENCTYPES: [i32; 6] = [18, 17, 20, 19, 26, 25];
/// The wall time that each timed batch aims at. Each side's batch size is
/// set from an untimed warm-up batch, so that both sides spend about as
/// long exposed to other processes on the machine.
const ROUND: Duration = Duration::from_millis(100);
/// Contexts in the warm-up batch, and the bounds of a timed batch.
const WARMUP: usize = 200;
const MIN_BATCH: usize = 50;
const MAX_BATCH: usize = 20_000;
const ROUNDS: usize = 5;
const CLOCKSKEW: i64 = 300;
/// The service ticket's lifetime from the start of the run, in seconds.
const TICKET_LIFETIME: i64 = 36_000;

fn now() -> (i64, u32) {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    (elapsed.as_secs() as i64, elapsed.subsec_micros())
}

/// The files MIT reads, in a directory removed on drop.
// NOTE: the release profile aborts on panic, so a failed run leaves the
// directory behind in the temporary directory.
struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    fn create() -> Workspace {
        let dir = std::env::temp_dir().join(format!("rgssd-gssbench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Workspace { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes a krb5.conf that keeps MIT away from DNS and the network.
fn write_krb5_conf(path: &Path) {
    let text = format!(
        "[libdefaults]\n\
         \tdefault_realm = {REALM}\n\
         \tdns_canonicalize_hostname = false\n\
         \trdns = false\n\
         \tdns_lookup_kdc = false\n\
         \tdns_lookup_realm = false\n\
         \tclockskew = {CLOCKSKEW}\n\
         [realms]\n\
         \t{REALM} = {{\n\
         \t\tkdc = 127.0.0.1:9\n\
         \t}}\n"
    );
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Mints a ticket from `client` to `service` under `service_key`, with a
/// session key of `session_enctype`, as a KDC would.
fn mint_ticket(
    client: &Principal,
    service: &Principal,
    service_key: &Key,
    session_enctype: i32,
) -> Credential {
    let (start, _) = now();
    let mut spec = TicketSpec::new(client.clone(), service.clone(), start);
    spec.session_key = Key::random(session_enctype).expect("random session key");
    spec.authtime = start;
    spec.starttime = Some(start);
    spec.endtime = start + TICKET_LIFETIME;
    spec.kvno = KVNO;
    spec.mint(service_key)
}

fn initiator_options() -> InitiatorOptions<'static> {
    InitiatorOptions {
        flags: RPCSEC_GSS_FLAGS,
        enctypes: &ENCTYPES,
        now: now(),
        channel_bindings: None,
    }
}

fn acceptor_options() -> AcceptorOptions<'static> {
    AcceptorOptions {
        acceptor_name: None,
        enctypes: &ENCTYPES,
        clockskew: CLOCKSKEW,
        now: now(),
        channel_bindings: None,
        acceptor_subkey: true,
    }
}

/// Makes `count` InitialContextTokens on `ticket`, each with a new authenticator.
fn fresh_tokens(ticket: &Credential, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| match init_sec_context(ticket, &initiator_options()) {
            Ok(InitStep::ContinueNeeded(_, token)) => token,
            Ok(InitStep::Complete(..)) => panic!("mutual authentication must wait for an AP-REP"),
            Err(e) => panic!("init_sec_context: {e}"),
        })
        .collect()
}

/// Panics unless `accepts` takes a fresh token once and rejects its
/// replay, so that a "replay cache" figure includes a working cache.
fn assert_replays_rejected(ticket: &Credential, mut accepts: impl FnMut(&[u8]) -> bool) {
    let token = &fresh_tokens(ticket, 1)[0];
    assert!(accepts(token), "the acceptor rejected a fresh token");
    assert!(!accepts(token), "the acceptor accepted a replayed token");
}

/// Runs `operation` on each token and returns the mean time per token.
fn time_batch(tokens: &[Vec<u8>], operation: &mut impl FnMut(&[u8])) -> Duration {
    let start = Instant::now();
    for token in tokens {
        operation(token);
    }
    start.elapsed() / tokens.len() as u32
}

/// Returns the number of contexts that takes about `ROUND` at
/// `per_context` each.
fn batch_size(per_context: Duration) -> usize {
    let count = ROUND.as_secs_f64() / per_context.as_secs_f64().max(1e-9);
    (count as usize).clamp(MIN_BATCH, MAX_BATCH)
}

/// Times `ours` and `mit` on fresh batches of tokens in alternating rounds
/// and returns the shortest mean time per token of each. Alternating keeps
/// a change in machine load from favouring one side.
fn best_accept_times(
    ticket: &Credential,
    mut ours: impl FnMut(&[u8]),
    mut mit: impl FnMut(&[u8]),
) -> (Duration, Duration) {
    let ours_batch = batch_size(time_batch(&fresh_tokens(ticket, WARMUP), &mut ours));
    let mit_batch = batch_size(time_batch(&fresh_tokens(ticket, WARMUP), &mut mit));
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let ours_time = time_batch(&fresh_tokens(ticket, ours_batch), &mut ours);
        let mit_time = time_batch(&fresh_tokens(ticket, mit_batch), &mut mit);
        best = (best.0.min(ours_time), best.1.min(mit_time));
    }
    best
}

/// Times the initiator steps of `establish` (which returns the time it
/// spent outside the acceptor) in batches, for each side in alternating
/// rounds, and returns the shortest mean time per context.
fn best_initiator_times(
    mut ours: impl FnMut() -> Duration,
    mut mit: impl FnMut() -> Duration,
) -> (Duration, Duration) {
    let batch = |establish: &mut dyn FnMut() -> Duration, count: usize| {
        (0..count).map(|_| establish()).sum::<Duration>() / count as u32
    };
    let ours_batch = batch_size(batch(&mut ours, WARMUP));
    let mit_batch = batch_size(batch(&mut mit, WARMUP));
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let ours_time = batch(&mut ours, ours_batch);
        let mit_time = batch(&mut mit, mit_batch);
        best = (best.0.min(ours_time), best.1.min(mit_time));
    }
    best
}

fn print_row(enctype: i32, operation: &str, ours: Duration, mit: Duration) {
    let name = enctype::name(enctype).unwrap_or("unknown");
    let (ours, mit) = (1.0 / ours.as_secs_f64(), 1.0 / mit.as_secs_f64());
    println!(
        "| {name:<28} | {operation:<36} | {ours:>8.0} | {mit:>8.0} | {ratio:>5.2} |",
        ratio = ours / mit
    );
}

/// The realm's fixed parts and the files MIT reads.
struct Bench {
    workspace: Workspace,
    mit: MitGss,
    client: Principal,
    service: Principal,
    keytab: Keytab,
    keytab_name: String,
}

impl Bench {
    fn service_key(&self, enctype: i32) -> &Key {
        &self
            .keytab
            .entries()
            .iter()
            .find(|entry| entry.key.enctype() == enctype)
            .expect("a keytab key for every measured enctype")
            .key
    }

    /// Measures the acceptor with a replay cache for both sides (MIT's
    /// default file cache in KRB5RCACHEDIR, and one `ReplayCache` for the
    /// whole run), then with none for MIT and a new `ReplayCache` for each
    /// token for us.
    fn accept(&self, enctype: i32, replay_cache: &ReplayCache) {
        let ticket = mint_ticket(
            &self.client,
            &self.service,
            self.service_key(enctype),
            enctype,
        );
        assert_replays_rejected(&ticket, |token| {
            accept_sec_context(&self.keytab, replay_cache, &acceptor_options(), token).is_ok()
        });
        let ours = |cache: &ReplayCache, token: &[u8]| {
            let accepted = accept_sec_context(&self.keytab, cache, &acceptor_options(), token)
                .unwrap_or_else(|rejected| panic!("accept_sec_context: {}", rejected.error));
            black_box(accepted.output_token);
            black_box(accepted.context.export_lucid().expect("lucid export"));
        };

        for (label, rcache) in [("replay cache", "dfl:"), ("no replay cache", "none:")] {
            let cred = self
                .mit
                .acquire_cred(true, &[("keytab", &self.keytab_name), ("rcache", rcache)])
                .unwrap_or_else(|e| panic!("{e}"));
            let mit = |token: &[u8]| {
                black_box(
                    self.mit
                        .accept_and_export(&cred, token)
                        .unwrap_or_else(|e| panic!("{e}")),
                );
            };
            let times = if rcache == "none:" {
                let token = &fresh_tokens(&ticket, 1)[0];
                for _ in 0..2 {
                    self.mit
                        .accept_and_export(&cred, token)
                        .unwrap_or_else(|e| panic!("without a replay cache: {e}"));
                }
                best_accept_times(&ticket, |token| ours(&ReplayCache::new(), token), mit)
            } else {
                assert_replays_rejected(&ticket, |token| {
                    self.mit.accept_and_export(&cred, token).is_ok()
                });
                best_accept_times(&ticket, |token| ours(replay_cache, token), mit)
            };
            print_row(enctype, &format!("accept+lucid, {label}"), times.0, times.1);
        }
    }

    /// Measures the initiator with the service ticket cached: ours in memory
    /// (as rpc.gssd's ticket map stores it), MIT's in a MEMORY: and in a
    /// FILE: ccache.
    fn initiate(&self, enctype: i32) {
        let ticket = mint_ticket(
            &self.client,
            &self.service,
            self.service_key(enctype),
            enctype,
        );
        let file_cache = self.workspace.path(&format!("ccache-{enctype}"));
        let file = CacheFile {
            version: 4,
            kdc_offset: None,
            principal: self.client.clone(),
            credentials: vec![ticket.clone()],
        };
        std::fs::write(
            &file_cache,
            ccache_file::encode(&file).expect("ccache encoding"),
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", file_cache.display()));
        let file_name = format!("FILE:{}", file_cache.display());
        let memory_name = format!("MEMORY:gssbench-{enctype}");
        mit_gss::copy_ccache(&file_name, &memory_name).unwrap_or_else(|e| panic!("{e}"));

        let target = self
            .mit
            .import_principal(&format!("{SERVICE}@{REALM}"))
            .unwrap_or_else(|e| panic!("{e}"));
        // The AP-REP for either side comes from our acceptor, untimed.
        let reply_to = |token: &[u8]| {
            accept_sec_context(
                &self.keytab,
                &ReplayCache::new(),
                &acceptor_options(),
                token,
            )
            .unwrap_or_else(|rejected| panic!("accept_sec_context: {}", rejected.error))
            .output_token
        };
        let ours = || {
            let start = Instant::now();
            let cached = ticket.clone();
            let Ok(InitStep::ContinueNeeded(pending, token)) =
                init_sec_context(&cached, &initiator_options())
            else {
                panic!("init_sec_context must wait for an AP-REP");
            };
            let first = start.elapsed();
            let reply = reply_to(&token);
            let start = Instant::now();
            let context = pending.complete(&reply).expect("AP-REP");
            black_box(context.export_lucid().expect("lucid export"));
            first + start.elapsed()
        };

        for (label, cache) in [
            ("MEMORY: ccache", &memory_name),
            ("FILE: ccache", &file_name),
        ] {
            let cred = self
                .mit
                .acquire_cred(false, &[("ccache", cache)])
                .unwrap_or_else(|e| panic!("{e}"));
            let mit = || {
                let start = Instant::now();
                let (pending, token) = self
                    .mit
                    .init_first(&cred, &target)
                    .unwrap_or_else(|e| panic!("{e}"));
                let first = start.elapsed();
                let reply = reply_to(&token);
                let start = Instant::now();
                self.mit
                    .init_complete(&cred, &target, pending, &reply)
                    .unwrap_or_else(|e| panic!("{e}"));
                first + start.elapsed()
            };
            let times = best_initiator_times(ours, mit);
            print_row(
                enctype,
                &format!("init+lucid, MIT {label}"),
                times.0,
                times.1,
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects enctypes by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));

    let workspace = Workspace::create();
    let krb5_conf = workspace.path("krb5.conf");
    write_krb5_conf(&krb5_conf);
    let rcache_dir = workspace.path("rcache");
    std::fs::create_dir_all(&rcache_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", rcache_dir.display()));
    // MIT reads these when it first needs them, after this point. No other
    // thread runs yet.
    std::env::set_var("KRB5_CONFIG", &krb5_conf);
    std::env::set_var("KRB5RCACHEDIR", &rcache_dir);

    let mit = match MitGss::load() {
        Ok(mit) => mit,
        Err(e) => {
            eprintln!("error: MIT libgssapi_krb5 is needed for the comparison: {e}");
            std::process::exit(1);
        }
    };

    let service = Principal::parse(SERVICE, Some(REALM)).expect("service principal");
    let client = Principal::parse(CLIENT, Some(REALM)).expect("client principal");
    let mut keytab = Keytab::new();
    for enctype in ENCTYPES {
        keytab.add_entry(KeytabEntry {
            principal: service.clone(),
            timestamp: 0,
            kvno: KVNO,
            key: Key::random(enctype).expect("random service key"),
        });
    }
    let keytab_path = workspace.path("krb5.keytab");
    let keytab_name = format!("FILE:{}", keytab_path.display());
    keytab.save(&keytab_name).expect("keytab file");

    let bench = Bench {
        workspace,
        mit,
        client,
        service,
        keytab,
        keytab_name,
    };
    let replay_cache = ReplayCache::new();

    println!("| enctype                      | operation                            |   ours/s |    MIT/s | ratio |");
    println!("|------------------------------|--------------------------------------|---------:|---------:|------:|");
    for enctype in ENCTYPES {
        let name = enctype::name(enctype).unwrap_or("unknown");
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        bench.accept(enctype, &replay_cache);
        bench.initiate(enctype);
    }
}
