//! An RPCSEC_GSS server stand-in on 127.0.0.1: it replies to the NULL call
//! that carries an RPCSEC_GSS INIT or CONTINUE_INIT credential over TCP
//! (record marking) and UDP, checks it as knfsd does, and gets the GSS
//! result from an [`Acceptor`]. [`ProcRelay`] passes the token through the
//! simulated cache channels to a running `rgssd svcgssd` and builds the
//! reply as knfsd does: window 128, and on success a verifier that is the
//! MIC of the window made with the installed context.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::procfs::ProcFs;

/// knfsd's sequence window.
pub const WINDOW: u32 = 128;
/// GSS_S_NO_CONTEXT.
pub const NO_CONTEXT: u32 = 8 << 16;

const RPCSEC_GSS: u32 = 6;
const AUTH_BADCRED: u32 = 1;
const AUTH_BADVERF: u32 = 3;

/// The GSS result of one context-creation call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    pub major: u32,
    pub minor: u32,
    pub handle: Vec<u8>,
    pub token: Vec<u8>,
    /// The reply verifier's body (flavor RPCSEC_GSS) on success.
    pub verifier: Option<Vec<u8>>,
}

/// Gives the GSS result for a token; `None` drops the call unanswered.
pub trait Acceptor: Send + Sync {
    fn accept(&self, handle: &[u8], token: &[u8]) -> Option<Accepted>;
}

/// One call as the server decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub udp: bool,
    pub program: u32,
    pub version: u32,
    pub procedure: u32,
    pub gss_version: u32,
    pub gss_proc: u32,
    pub seq: u32,
    pub service: u32,
    pub handle: Vec<u8>,
    pub token: Vec<u8>,
    /// The auth_stat of a rejection, if the call was rejected.
    pub rejected: Option<u32>,
}

struct Xdr<'a> {
    data: &'a [u8],
    at: usize,
}

impl Xdr<'_> {
    fn u32(&mut self) -> Option<u32> {
        let b = self.data.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn opaque(&mut self) -> Option<Vec<u8>> {
        let len = self.u32()? as usize;
        let padded = len.checked_add(3)? & !3;
        let b = self.data.get(self.at..self.at.checked_add(padded)?)?;
        self.at += padded;
        Some(b[..len].to_vec())
    }
}

fn put_opaque(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    out.resize(out.len() + (4 - bytes.len() % 4) % 4, 0);
}

/// Decodes a call and builds its reply; `None` means no reply.
fn answer(
    message: &[u8],
    udp: bool,
    acceptor: &dyn Acceptor,
    calls: &Mutex<Vec<Call>>,
) -> Option<Vec<u8>> {
    let mut x = Xdr {
        data: message,
        at: 0,
    };
    let xid = x.u32()?;
    if x.u32()? != 0 || x.u32()? != 2 {
        return None;
    }
    let program = x.u32()?;
    let version = x.u32()?;
    let procedure = x.u32()?;
    let flavor = x.u32()?;
    let cred = x.opaque()?;
    let verf_flavor = x.u32()?;
    let verf = x.opaque()?;
    let mut c = Xdr { data: &cred, at: 0 };
    let mut call = Call {
        udp,
        program,
        version,
        procedure,
        gss_version: c.u32().unwrap_or(0),
        gss_proc: c.u32().unwrap_or(0),
        seq: c.u32().unwrap_or(0),
        service: c.u32().unwrap_or(0),
        handle: c.opaque().unwrap_or_default(),
        token: Vec::new(),
        rejected: None,
    };
    let mut reply = Vec::new();
    reply.extend_from_slice(&xid.to_be_bytes());
    reply.extend_from_slice(&1u32.to_be_bytes());

    // knfsd's checks: RPCSEC_GSS version 1, procedure 0, a null verifier,
    // and no handle on INIT.
    let rejection = if flavor != RPCSEC_GSS || call.gss_version != 1 || procedure != 0 {
        Some(AUTH_BADCRED)
    } else if verf_flavor != 0 || !verf.is_empty() {
        Some(AUTH_BADVERF)
    } else if !matches!(call.gss_proc, 1 | 2) || (call.gss_proc == 1 && !call.handle.is_empty()) {
        Some(AUTH_BADCRED)
    } else {
        None
    };
    if let Some(stat) = rejection {
        call.rejected = Some(stat);
        calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
        for word in [1u32, 1, stat] {
            reply.extend_from_slice(&word.to_be_bytes());
        }
        return Some(reply);
    }
    call.token = x.opaque()?;
    let result = acceptor.accept(&call.handle, &call.token);
    calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
    let result = result?;

    reply.extend_from_slice(&0u32.to_be_bytes());
    match &result.verifier {
        Some(mic) if result.major == 0 => {
            reply.extend_from_slice(&RPCSEC_GSS.to_be_bytes());
            put_opaque(&mut reply, mic);
        }
        _ => {
            reply.extend_from_slice(&0u32.to_be_bytes());
            reply.extend_from_slice(&0u32.to_be_bytes());
        }
    }
    reply.extend_from_slice(&0u32.to_be_bytes());
    put_opaque(&mut reply, &result.handle);
    reply.extend_from_slice(&result.major.to_be_bytes());
    reply.extend_from_slice(&result.minor.to_be_bytes());
    reply.extend_from_slice(&WINDOW.to_be_bytes());
    put_opaque(&mut reply, &result.token);
    Some(reply)
}

/// The running stand-in; dropping it stops it.
pub struct RpcServer {
    port: u16,
    stop: Arc<AtomicBool>,
    calls: Arc<Mutex<Vec<Call>>>,
    threads: Vec<JoinHandle<()>>,
}

impl RpcServer {
    /// Listens on TCP and UDP on the same free port of 127.0.0.1.
    pub fn start(acceptor: Arc<dyn Acceptor>) -> io::Result<Self> {
        let (tcp, udp) = bind_pair()?;
        let port = tcp.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();

        udp.set_read_timeout(Some(Duration::from_millis(100)))?;
        {
            let (stop, calls, acceptor) =
                (Arc::clone(&stop), Arc::clone(&calls), Arc::clone(&acceptor));
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    let (message, udp_ref) = (buf[..n].to_vec(), &udp);
                    if let Some(reply) = answer(&message, true, acceptor.as_ref(), &calls) {
                        let _ = udp_ref.send_to(&reply, peer);
                    }
                }
            }));
        }
        {
            let (stop, calls) = (Arc::clone(&stop), Arc::clone(&calls));
            threads.push(std::thread::spawn(move || {
                let mut connections = Vec::new();
                for stream in tcp.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (stop, calls, acceptor) =
                        (Arc::clone(&stop), Arc::clone(&calls), Arc::clone(&acceptor));
                    connections.push(std::thread::spawn(move || {
                        serve_tcp(stream, &stop, acceptor.as_ref(), &calls)
                    }));
                }
                // Each connection notices the stop within its read timeout;
                // joining them releases the acceptor before the server is gone.
                for connection in connections {
                    let _ = connection.join();
                }
            }));
        }
        Ok(Self {
            port,
            stop,
            calls,
            threads,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the calls received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn bind_pair() -> io::Result<(TcpListener, UdpSocket)> {
    let mut last = None;
    for _ in 0..20 {
        let tcp = TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        match UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], port))) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port pair on 127.0.0.1")))
}

fn serve_tcp(
    mut stream: TcpStream,
    stop: &AtomicBool,
    acceptor: &dyn Acceptor,
    calls: &Mutex<Vec<Call>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut record = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let mut mark = [0u8; 4];
        match stream.read_exact(&mut mark) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        let mark = u32::from_be_bytes(mark);
        let mut fragment = vec![0u8; (mark & 0x7fff_ffff) as usize];
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        if stream.read_exact(&mut fragment).is_err() {
            return;
        }
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        record.extend_from_slice(&fragment);
        if mark & 0x8000_0000 == 0 {
            continue;
        }
        let message = std::mem::take(&mut record);
        if let Some(reply) = answer(&message, false, acceptor, calls) {
            let mut out = (0x8000_0000u32 | reply.len() as u32).to_be_bytes().to_vec();
            out.extend_from_slice(&reply);
            if stream.write_all(&out).is_err() {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Relays tokens through the simulated cache channels, as knfsd does
/// without gss-proxy.
pub struct ProcRelay {
    pub procfs: Arc<ProcFs>,
    /// How long to wait for the daemon's reply before dropping the call.
    pub timeout: Duration,
}

impl Acceptor for ProcRelay {
    fn accept(&self, handle: &[u8], token: &[u8]) -> Option<Accepted> {
        let id = self.procfs.request(handle, token);
        let reply = self.procfs.wait_reply(id, self.timeout)?;
        let mut accepted = Accepted {
            major: reply.major,
            minor: reply.minor,
            handle: reply.out_handle.clone(),
            token: reply.out_token.clone(),
            verifier: None,
        };
        if reply.major != 0 {
            return Some(accepted);
        }
        // The kernel looks the handle up in the context cache to sign the
        // window; without a usable context the reply becomes NO_CONTEXT.
        let context = self
            .procfs
            .context(&reply.out_handle)
            .and_then(|entry| entry.creds)
            .map(|creds| creds.context);
        match context.and_then(|lucid| window_mic(&lucid).ok()) {
            Some(mic) => accepted.verifier = Some(mic),
            None => accepted.major = NO_CONTEXT,
        }
        Some(accepted)
    }
}

/// Makes the acceptor's MIC over the big-endian window with the kernel's
/// first sequence number for the context.
pub fn window_mic(lucid: &crate::downcall::Lucid) -> Result<Vec<u8>, String> {
    crate::context::KernelContext::import(lucid)?
        .get_mic(&WINDOW.to_be_bytes())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Acceptor for Fixed {
        fn accept(&self, _handle: &[u8], token: &[u8]) -> Option<Accepted> {
            Some(Accepted {
                major: 0,
                minor: 0,
                handle: vec![7; 5],
                token: token.iter().rev().copied().collect(),
                verifier: Some(vec![0xaa; 3]),
            })
        }
    }

    /// Builds a NULL call with an RPCSEC_GSS credential.
    fn call(gss_proc: u32, handle: &[u8], verifier: u32, token: &[u8]) -> Vec<u8> {
        let mut cred = Vec::new();
        for word in [1u32, gss_proc, 0, 1] {
            cred.extend_from_slice(&word.to_be_bytes());
        }
        put_opaque(&mut cred, handle);
        let mut out = Vec::new();
        for word in [0x1234u32, 0, 2, 100_003, 4, 0, RPCSEC_GSS] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        put_opaque(&mut out, &cred);
        out.extend_from_slice(&verifier.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        put_opaque(&mut out, token);
        out
    }

    fn words(reply: &[u8]) -> Vec<u32> {
        reply
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn init_reply_layout() {
        let calls = Mutex::new(Vec::new());
        let reply = answer(&call(1, &[], 0, &[1, 2, 3]), false, &Fixed, &calls).unwrap();
        // xid, REPLY, MSG_ACCEPTED, verifier (RPCSEC_GSS, 3 bytes padded),
        // SUCCESS, handle<5>, major, minor, window, token<3>.
        let expected: Vec<u32> = vec![
            0x1234,
            1,
            0,
            6,
            3,
            0xaaaa_aa00,
            0,
            5,
            0x0707_0707,
            0x0700_0000,
            0,
            0,
            128,
            3,
            0x0302_0100,
        ];
        assert_eq!(words(&reply), expected);
        let recorded = calls.lock().unwrap();
        assert_eq!(recorded[0].token, [1, 2, 3]);
        assert_eq!((recorded[0].gss_proc, recorded[0].service), (1, 1));
    }

    #[test]
    fn bad_credentials_and_verifiers_are_rejected() {
        let calls = Mutex::new(Vec::new());
        let denied = |stat: u32| vec![0x1234, 1, 1, 1, stat];
        let reply = answer(&call(1, &[1], 0, &[1]), false, &Fixed, &calls).unwrap();
        assert_eq!(words(&reply), denied(AUTH_BADCRED));
        let reply = answer(&call(1, &[], 1, &[1]), false, &Fixed, &calls).unwrap();
        assert_eq!(words(&reply), denied(AUTH_BADVERF));
        let reply = answer(&call(3, &[], 0, &[1]), false, &Fixed, &calls).unwrap();
        assert_eq!(words(&reply), denied(AUTH_BADCRED));
        assert_eq!(answer(&[0, 0, 0], false, &Fixed, &calls), None);
    }
}
