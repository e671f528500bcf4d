//! Sending one request to the KDCs of a realm (RFC 4120 §7.2.1-§7.2.2):
//! UDP datagrams, or TCP with a 4-byte big-endian length before each
//! message.
//!
//! One loop serves every address of every KDC, with the timing of MIT krb5
//! 1.20's `sendto_kdc.c`. Here a step is [`Settings::kdc_timeout`] (1 s by
//! default, MIT's fixed value):
//!
//! 1. First pass: each KDC host is resolved in turn. Each of its addresses
//!    is contacted over the preferred transport (UDP, or TCP when the request
//!    is longer than `udp_preference_limit`), and the loop waits one step
//!    after each. Then every address is contacted over the other transport,
//!    one step apart, and the pass ends with a pause of 2 steps.
//! 2. Two more passes resend the datagram on every UDP socket still open,
//!    one step apart, and end with pauses of 4 and 8 steps. TCP requests
//!    are sent once.
//! 3. Sockets stay open until the request ends, so a reply to an earlier
//!    datagram or connection is accepted whenever it arrives. The first
//!    reply from any socket ends the request.
//! 4. Once a TCP connection is established, the schedule pauses until 10
//!    steps after that, as MIT 1.20 does, so that a KDC that accepted the
//!    connection has time to reply before more datagrams go out. MIT 1.22
//!    instead waits on an established connection until `request_timeout`,
//!    without limit when that is unset.
//!
//! A request that no KDC replies to therefore ends after
//! `(3 * U + T + 14)` steps, for `U` UDP and `T` TCP addresses, plus up to
//! 10 steps for each established TCP connection that stays silent: 18 s for
//! one unresponsive KDC address with the defaults, 27 s when it accepts the
//! TCP connection. `request_timeout` ends it earlier. A socket error (ICMP
//! port unreachable, a refused or reset connection) closes that socket at
//! once, and the loop stops waiting for it. Once every address has been
//! contacted and every socket is closed, the request fails.
//!
//! A UDP reply of KRB_ERR_RESPONSE_TOO_BIG closes that socket and asks the
//! same address over TCP at once. A reply of KDC_ERR_SVC_UNAVAILABLE, as in
//! MIT, closes its socket and the loop waits for the other KDCs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use super::{kdc_display, KdcServer, Settings, Transport};
use crate::messages::error_code::{KDC_ERR_SVC_UNAVAILABLE, KRB_ERR_RESPONSE_TOO_BIG};

/// The largest reply read over TCP. MIT krb5 1.20 refuses TCP replies over
/// 1 MiB as well; a PAC-laden Active Directory ticket is well under that.
pub const MAX_TCP_REPLY: usize = 1 << 20;

/// The largest UDP payload over IPv4 or IPv6 without jumbograms.
const MAX_UDP_REPLY: usize = 65_535;

/// The events that socket tasks may queue before they wait for the loop,
/// which bounds the memory a flood of datagrams can take.
const EVENT_QUEUE: usize = 16;

/// The number of passes over all addresses (MIT's `MAX_PASS`).
const PASSES: u32 = 3;

/// The pause at the end of the first pass, in steps. It doubles with each pass.
const FIRST_PAUSE_STEPS: u32 = 2;

/// The pause of the schedule after a TCP connection is established, in steps.
const TCP_PAUSE_STEPS: u32 = 10;

/// A failed attempt at one KDC, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub kdc: String,
    pub transport: &'static str,
    pub error: String,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.kdc, self.transport, self.error)
    }
}

/// Sends `request` to the KDCs of a realm on the schedule described in the
/// module documentation and returns the first reply, or the reason each
/// address failed.
pub async fn send(
    request: &[u8],
    kdcs: &[KdcServer],
    settings: &Settings,
) -> Result<Vec<u8>, Vec<Attempt>> {
    let mut exchange = Exchange::new(request, settings);
    match exchange.run(kdcs, settings).await {
        Err(Stop::Reply(reply)) => Ok(reply),
        Ok(()) => Err(exchange.attempts(false)),
        Err(Stop::Deadline) => {
            let mut attempts = exchange.attempts(true);
            let not_reached = kdcs.iter().skip(exchange.resolved_servers);
            attempts.extend(not_reached.map(|kdc| Attempt {
                kdc: kdc_display(kdc),
                transport: "dns",
                error: "not resolved before request_timeout ended the request".to_string(),
            }));
            Err(attempts)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Udp,
    Tcp,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        }
    }
}

/// The reason the loop stops before its schedule ends.
enum Stop {
    Reply(Vec<u8>),
    Deadline,
}

/// A report from a socket task to the loop.
enum Event {
    Reply(usize, Vec<u8>),
    /// A TCP connection was established and its request is being sent.
    Connected(usize),
    Failed(usize, String),
}

/// The state of one address over one transport.
enum State {
    /// Not contacted yet.
    Idle,
    /// An open UDP socket, with the datagrams sent on it so far.
    Udp {
        socket: Arc<UdpSocket>,
        reader: AbortHandle,
        sends: u32,
    },
    /// A TCP exchange in progress, with the time its connection was
    /// established.
    Tcp {
        task: AbortHandle,
        connected: Option<Instant>,
    },
    Failed(String),
}

/// One address of a KDC over one transport.
struct Connection {
    /// The index of the KDC in the list given to [`send`].
    server: usize,
    address: SocketAddr,
    protocol: Protocol,
    /// Contacted only after every address of the preferred transport.
    deferred: bool,
    started: Option<Instant>,
    state: State,
}

impl Connection {
    fn is_open(&self) -> bool {
        matches!(self.state, State::Udp { .. } | State::Tcp { .. })
    }

    /// Returns why no reply came, for a connection still open or never
    /// contacted when the request ends.
    fn outcome(&self, deadline: bool) -> String {
        let elapsed = self
            .started
            .map_or(0, |started| started.elapsed().as_millis());
        let reason = match &self.state {
            State::Failed(error) => return error.clone(),
            State::Idle => return "not contacted before request_timeout".to_string(),
            State::Udp { sends, .. } => {
                let plural = if *sends == 1 { "" } else { "s" };
                format!("no reply to {sends} datagram{plural} in {elapsed} ms")
            }
            State::Tcp {
                connected: Some(_), ..
            } => format!("connected, but no reply in {elapsed} ms"),
            State::Tcp {
                connected: None, ..
            } => format!("connection not established in {elapsed} ms"),
        };
        if deadline {
            format!("{reason}, when request_timeout ended the request")
        } else {
            reason
        }
    }
}

/// One request to the KDCs of a realm: its sockets, their tasks and the
/// failures so far.
struct Exchange {
    request: Arc<[u8]>,
    step: Duration,
    deadline: Option<Instant>,
    connections: Vec<Connection>,
    /// KDCs whose host name did not resolve, by index.
    unresolved: Vec<(usize, Attempt)>,
    /// The number of KDCs, from the start of the list, resolved so far.
    resolved_servers: usize,
    sender: mpsc::Sender<Event>,
    events: mpsc::Receiver<Event>,
    /// The socket tasks, aborted when the exchange is dropped.
    tasks: JoinSet<()>,
}

impl Exchange {
    fn new(request: &[u8], settings: &Settings) -> Self {
        let (sender, events) = mpsc::channel(EVENT_QUEUE);
        Self {
            request: request.into(),
            step: settings.kdc_timeout,
            deadline: settings.request_timeout.map(|t| Instant::now() + t),
            connections: Vec::new(),
            unresolved: Vec::new(),
            resolved_servers: 0,
            sender,
            events,
            tasks: JoinSet::new(),
        }
    }

    /// Runs the schedule. Returns `Ok` when it ended without a reply.
    async fn run(&mut self, kdcs: &[KdcServer], settings: &Settings) -> Result<(), Stop> {
        let prefer_tcp = self.request.len() > settings.udp_preference_limit;

        for (index, kdc) in kdcs.iter().enumerate() {
            let resolved = self.serve_while(resolve(kdc)).await?;
            self.resolved_servers = index + 1;
            let addresses = match resolved {
                Ok(addresses) => addresses,
                Err(error) => {
                    log::info!("KDC {}: {error}", kdc_display(kdc));
                    let attempt = Attempt {
                        kdc: kdc_display(kdc),
                        transport: "dns",
                        error,
                    };
                    self.unresolved.push((index, attempt));
                    continue;
                }
            };
            let first = self.connections.len();
            self.add_connections(index, kdc.transport, prefer_tcp, &addresses);
            for id in first..self.connections.len() {
                if !self.connections[id].deferred && self.transmit(id).await {
                    self.wait(self.step).await?;
                }
            }
        }
        for id in 0..self.connections.len() {
            if self.connections[id].deferred && self.transmit(id).await {
                self.wait(self.step).await?;
            }
        }
        let mut pause = self.step * FIRST_PAUSE_STEPS;
        self.wait(pause).await?;

        for _ in 1..PASSES {
            if !self.any_open() {
                break;
            }
            for id in 0..self.connections.len() {
                if self.transmit(id).await {
                    self.wait(self.step).await?;
                }
            }
            pause *= 2;
            self.wait(pause).await?;
        }
        Ok(())
    }

    /// Adds a connection per address over the transports `transport`
    /// allows, deferring the one that is not preferred.
    fn add_connections(
        &mut self,
        server: usize,
        transport: Transport,
        prefer_tcp: bool,
        addresses: &[SocketAddr],
    ) {
        let (preferred, other) = if prefer_tcp {
            (Protocol::Tcp, Protocol::Udp)
        } else {
            (Protocol::Udp, Protocol::Tcp)
        };
        let plan: &[(Protocol, bool)] = match transport {
            Transport::Any => &[(preferred, false), (other, true)],
            Transport::Udp => &[(Protocol::Udp, prefer_tcp)],
            Transport::Tcp => &[(Protocol::Tcp, !prefer_tcp)],
        };
        for &(protocol, deferred) in plan {
            for &address in addresses {
                self.connections.push(Connection {
                    server,
                    address,
                    protocol,
                    deferred,
                    started: None,
                    state: State::Idle,
                });
            }
        }
    }

    fn any_open(&self) -> bool {
        self.connections.iter().any(Connection::is_open)
    }

    /// Contacts connection `id`, or resends its datagram when it is an
    /// open UDP socket. Returns true when something was sent, so that the
    /// schedule waits a step.
    async fn transmit(&mut self, id: usize) -> bool {
        let connection = &mut self.connections[id];
        match &mut connection.state {
            State::Idle => {}
            State::Udp { socket, sends, .. } => {
                log::debug!("resending to KDC {} over udp", connection.address);
                return match socket.send(&self.request).await {
                    Ok(_) => {
                        *sends += 1;
                        true
                    }
                    Err(e) => {
                        // A lasting failure also ends the reader's receive.
                        log::info!("resending to KDC {} failed: {e}", connection.address);
                        false
                    }
                };
            }
            State::Tcp { .. } | State::Failed(_) => return false,
        }

        connection.started = Some(Instant::now());
        let address = connection.address;
        log::debug!(
            "sending to KDC {address} over {}",
            connection.protocol.name()
        );
        let state = match connection.protocol {
            Protocol::Udp => match open_udp(address, &self.request).await {
                Ok(socket) => {
                    let socket = Arc::new(socket);
                    let reader = self.tasks.spawn(read_datagrams(
                        id,
                        Arc::clone(&socket),
                        self.sender.clone(),
                    ));
                    State::Udp {
                        socket,
                        reader,
                        sends: 1,
                    }
                }
                Err(error) => State::Failed(error),
            },
            Protocol::Tcp => State::Tcp {
                task: self.tasks.spawn(exchange_tcp(
                    id,
                    address,
                    Arc::clone(&self.request),
                    self.sender.clone(),
                )),
                connected: None,
            },
        };
        self.set_state(id, state);
        self.connections[id].is_open()
    }

    /// Replaces the state of connection `id`, closing its socket when it
    /// had one.
    fn set_state(&mut self, id: usize, state: State) {
        let connection = &mut self.connections[id];
        if let State::Failed(error) = &state {
            log::info!(
                "KDC {} over {}: {error}",
                connection.address,
                connection.protocol.name()
            );
        }
        match std::mem::replace(&mut connection.state, state) {
            State::Udp { reader, .. } => reader.abort(),
            State::Tcp { task, .. } => task.abort(),
            State::Idle | State::Failed(_) => {}
        }
    }

    /// Serves the sockets for `interval`, or until the pause after an
    /// established TCP connection ends if that is later. Stops at a reply or
    /// the deadline, and returns early when no socket is open.
    async fn wait(&mut self, interval: Duration) -> Result<(), Stop> {
        let end = Instant::now() + interval;
        loop {
            if !self.any_open() {
                return Ok(());
            }
            let until = self
                .tcp_pause_end()
                .map_or(end, |pause_end| pause_end.max(end));
            let until = self.deadline.map_or(until, |deadline| deadline.min(until));
            tokio::select! {
                biased;
                Some(event) = self.events.recv() => self.handle(event).await?,
                () = tokio::time::sleep_until(until) => {
                    self.check_deadline()?;
                    if self.tcp_pause_end().is_none_or(|pause_end| pause_end <= Instant::now()) {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Serves the sockets until `work` completes, and returns its output.
    async fn serve_while<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, Stop> {
        tokio::pin!(work);
        loop {
            let deadline = self.deadline;
            tokio::select! {
                biased;
                Some(event) = self.events.recv() => self.handle(event).await?,
                output = &mut work => return Ok(output),
                () = sleep_until_deadline(deadline) => return Err(Stop::Deadline),
            }
        }
    }

    fn check_deadline(&self) -> Result<(), Stop> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(Stop::Deadline),
            _ => Ok(()),
        }
    }

    /// Returns the latest end of the pauses after established TCP connections.
    fn tcp_pause_end(&self) -> Option<Instant> {
        let pause = self.step * TCP_PAUSE_STEPS;
        self.connections
            .iter()
            .filter_map(|c| match c.state {
                State::Tcp {
                    connected: Some(at),
                    ..
                } => Some(at + pause),
                _ => None,
            })
            .max()
    }

    /// Acts on one socket event. Returns `Err(Stop::Reply)` for a reply
    /// that ends the request.
    async fn handle(&mut self, event: Event) -> Result<(), Stop> {
        let (id, reply) = match event {
            Event::Reply(id, reply) => (id, reply),
            Event::Connected(id) => {
                if let State::Tcp { connected, .. } = &mut self.connections[id].state {
                    *connected = Some(Instant::now());
                }
                return Ok(());
            }
            Event::Failed(id, error) => {
                if self.connections[id].is_open() {
                    self.set_state(id, State::Failed(error));
                }
                return Ok(());
            }
        };
        // Events of a socket already closed are stale.
        if !self.connections[id].is_open() {
            return Ok(());
        }
        let protocol = self.connections[id].protocol;
        match krb_error_code(&reply) {
            Some(KRB_ERR_RESPONSE_TOO_BIG) if protocol == Protocol::Udp => {
                let address = self.connections[id].address;
                log::info!("KDC {address} replied RESPONSE_TOO_BIG over UDP, retrying over TCP");
                self.set_state(
                    id,
                    State::Failed("reply too big for UDP (KRB_ERR_RESPONSE_TOO_BIG)".to_string()),
                );
                let tcp = self.tcp_connection(id);
                self.transmit(tcp).await;
                Ok(())
            }
            Some(KDC_ERR_SVC_UNAVAILABLE) => {
                self.set_state(
                    id,
                    State::Failed("service unavailable (KDC_ERR_SVC_UNAVAILABLE)".to_string()),
                );
                Ok(())
            }
            _ => Err(Stop::Reply(reply)),
        }
    }

    /// Returns the TCP connection to the address of UDP connection `id`,
    /// adding one when the KDC's transport did not include TCP.
    fn tcp_connection(&mut self, id: usize) -> usize {
        let (server, address) = (self.connections[id].server, self.connections[id].address);
        if let Some(existing) = self
            .connections
            .iter()
            .position(|c| c.address == address && c.protocol == Protocol::Tcp)
        {
            return existing;
        }
        self.connections.push(Connection {
            server,
            address,
            protocol: Protocol::Tcp,
            deferred: false,
            started: None,
            state: State::Idle,
        });
        self.connections.len() - 1
    }

    /// Returns the reason each KDC and address failed, in the order of the
    /// KDC list. `deadline` is true when `request_timeout` ended the request.
    fn attempts(&self, deadline: bool) -> Vec<Attempt> {
        let mut attempts: Vec<(usize, Attempt)> = self.unresolved.clone();
        for connection in &self.connections {
            if matches!(connection.state, State::Idle) && !deadline {
                continue;
            }
            let attempt = Attempt {
                kdc: connection.address.to_string(),
                transport: connection.protocol.name(),
                error: connection.outcome(deadline),
            };
            attempts.push((connection.server, attempt));
        }
        // A stable sort keeps the order within each KDC.
        attempts.sort_by_key(|(server, _)| *server);
        attempts.into_iter().map(|(_, attempt)| attempt).collect()
    }
}

async fn sleep_until_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn resolve(kdc: &KdcServer) -> Result<Vec<SocketAddr>, String> {
    let addresses = crate::locate::resolve_host(&kdc.host)
        .await
        .map_err(|e| e.to_string())?;
    Ok(addresses
        .into_iter()
        .map(|ip| SocketAddr::new(ip, kdc.port))
        .collect())
}

/// The identifier octet of a KRB-ERROR, the only reply that is read before decoding.
const KRB_ERROR_IDENTIFIER: u8 = 0x7e;

/// Returns the error code of `reply` when it is a KRB-ERROR.
fn krb_error_code(reply: &[u8]) -> Option<i32> {
    if reply.first() != Some(&KRB_ERROR_IDENTIFIER) {
        return None;
    }
    crate::messages::decode_krb_error(reply)
        .ok()
        .map(|error| error.error_code)
}

/// Opens a UDP socket connected to `address` and sends `request` on it.
async fn open_udp(address: SocketAddr, request: &[u8]) -> Result<UdpSocket, String> {
    let local: SocketAddr = if address.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    // A connected socket drops datagrams from other peers and reports ICMP
    // port-unreachable as an error, so a dead KDC fails fast.
    socket
        .connect(address)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    socket
        .send(request)
        .await
        .map_err(|e| format!("send failed: {e}"))?;
    Ok(socket)
}

/// Forwards every datagram that arrives on `socket` to the loop, until a
/// receive fails.
async fn read_datagrams(id: usize, socket: Arc<UdpSocket>, events: mpsc::Sender<Event>) {
    let mut buffer = vec![0u8; MAX_UDP_REPLY];
    loop {
        let event = match socket.recv(&mut buffer).await {
            Ok(len) => Event::Reply(id, buffer[..len].to_vec()),
            Err(e) => Event::Failed(id, format!("receive failed: {e}")),
        };
        let failed = matches!(event, Event::Failed(..));
        if events.send(event).await.is_err() || failed {
            return;
        }
    }
}

/// Runs one TCP exchange and reports its steps to the loop.
async fn exchange_tcp(
    id: usize,
    address: SocketAddr,
    request: Arc<[u8]>,
    events: mpsc::Sender<Event>,
) {
    let result = match TcpStream::connect(address).await {
        Ok(stream) => {
            let _ = events.send(Event::Connected(id)).await;
            round_trip_tcp(stream, &request).await
        }
        Err(e) => Err(format!("cannot connect: {e}")),
    };
    let event = match result {
        Ok(reply) => Event::Reply(id, reply),
        Err(error) => Event::Failed(id, error),
    };
    let _ = events.send(event).await;
}

async fn round_trip_tcp(mut stream: TcpStream, request: &[u8]) -> Result<Vec<u8>, String> {
    let length = u32::try_from(request.len())
        .ok()
        .filter(|&len| len & 0x8000_0000 == 0)
        .ok_or_else(|| format!("request of {} bytes is too long for TCP", request.len()))?;
    let mut framed = Vec::with_capacity(4 + request.len());
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(request);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("send failed: {e}"))?;

    let mut prefix = [0u8; 4];
    stream
        .read_exact(&mut prefix)
        .await
        .map_err(|e| format!("receive failed: {e}"))?;
    let length = u32::from_be_bytes(prefix);
    // RFC 4120 §7.2.2 reserves the high bit for extensions, and a reply
    // that sets it is one we cannot read.
    if length & 0x8000_0000 != 0 {
        return Err(format!(
            "reply length {length:#010x} sets the reserved high bit"
        ));
    }
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > MAX_TCP_REPLY {
        return Err(format!(
            "reply of {length} bytes exceeds the maximum of {MAX_TCP_REPLY}"
        ));
    }
    let mut reply = vec![0u8; length];
    stream
        .read_exact(&mut reply)
        .await
        .map_err(|e| format!("receive failed: {e}"))?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{self, convert, error_code, time, KrbError};
    use crate::Principal;

    /// A short step keeps the schedule tests fast. Lower bounds on timing
    /// are exact; upper bounds leave room for a loaded machine.
    const STEP: Duration = Duration::from_millis(20);
    const SLACK: Duration = Duration::from_secs(2);

    /// Settings with a step longer than [`SLACK`], so that a test that
    /// ends within `SLACK` did not wait for a step to pass.
    fn settings() -> Settings {
        Settings {
            kdc_timeout: Duration::from_secs(5),
            ..Settings::default()
        }
    }

    fn fast_settings() -> Settings {
        Settings {
            kdc_timeout: STEP,
            ..Settings::default()
        }
    }

    fn endpoint(address: SocketAddr, transport: Transport) -> KdcServer {
        KdcServer {
            host: address.ip().to_string(),
            port: address.port(),
            transport,
        }
    }

    fn krb_error(code: i32) -> Vec<u8> {
        let error = KrbError {
            pvno: 5.into(),
            msg_type: 30.into(),
            ctime: None,
            cusec: None,
            stime: time::from_unix(1_700_000_000).unwrap(),
            susec: 0.into(),
            error_code: code,
            crealm: None,
            cname: None,
            realm: convert::kerberos_string("EXAMPLE.TEST", "KRB-ERROR", "realm").unwrap(),
            sname: convert::principal_name(&Principal::krbtgt("EXAMPLE.TEST", "EXAMPLE.TEST"))
                .unwrap()
                .0,
            e_text: None,
            e_data: None,
        };
        messages::encode(&error, "KRB-ERROR").unwrap()
    }

    /// Binds a UDP socket on loopback that records when each datagram
    /// arrives, relative to the returned start time, and never replies.
    async fn silent_udp() -> (SocketAddr, Instant, Arc<std::sync::Mutex<Vec<Duration>>>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let start = Instant::now();
        let recorded = Arc::clone(&arrivals);
        tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            while socket.recv_from(&mut buffer).await.is_ok() {
                recorded.lock().unwrap().push(start.elapsed());
            }
        });
        (address, start, arrivals)
    }

    /// Binds a UDP socket on loopback that sends `reply` to the first
    /// datagram it receives.
    async fn udp_replying(reply: Vec<u8>) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            let (_, peer) = socket.recv_from(&mut buffer).await.unwrap();
            socket.send_to(&reply, peer).await.unwrap();
        });
        address
    }

    /// Sends `reply`, framed, on the first connection to `listener`.
    fn tcp_replying(listener: tokio::net::TcpListener, reply: &'static [u8]) {
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 64];
            let _ = stream.read(&mut buffer).await;
            let length = u32::try_from(reply.len()).unwrap();
            stream.write_all(&length.to_be_bytes()).await.unwrap();
            stream.write_all(reply).await.unwrap();
        });
    }

    async fn send_ping(
        address: SocketAddr,
        transport: Transport,
        settings: &Settings,
    ) -> Result<Vec<u8>, Vec<Attempt>> {
        send(b"ping", &[endpoint(address, transport)], settings).await
    }

    #[tokio::test]
    async fn tcp_framing_round_trip() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut prefix = [0u8; 4];
            stream.read_exact(&mut prefix).await.unwrap();
            let mut request = vec![0u8; u32::from_be_bytes(prefix) as usize];
            stream.read_exact(&mut request).await.unwrap();
            assert_eq!(request, b"ping");
            stream.write_all(&[0, 0, 0, 4]).await.unwrap();
            stream.write_all(b"pong").await.unwrap();
        });
        let reply = send_ping(address, Transport::Tcp, &settings())
            .await
            .unwrap();
        assert_eq!(reply, b"pong");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn tcp_rejects_huge_length_prefix() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 64];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(&[0x7f, 0xff, 0xff, 0xff]).await;
        });
        let attempts = send_ping(address, Transport::Tcp, &settings())
            .await
            .unwrap_err();
        assert_eq!(attempts.len(), 1);
        assert!(
            attempts[0].error.contains("exceeds the maximum"),
            "{}",
            attempts[0]
        );
    }

    #[tokio::test]
    async fn udp_fails_over_to_next_kdc() {
        let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead_address = dead.local_addr().unwrap();
        drop(dead);
        let live_address = udp_replying(b"reply".to_vec()).await;
        let kdcs = [
            endpoint(dead_address, Transport::Udp),
            endpoint(live_address, Transport::Udp),
        ];
        // The port-unreachable error closes the first socket at once, so the
        // second KDC is asked well before the first step ends.
        let start = Instant::now();
        let reply = send(b"ping", &kdcs, &settings()).await.unwrap();
        assert_eq!(reply, b"reply");
        assert!(start.elapsed() < SLACK, "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn long_request_goes_to_tcp_first() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tcp_replying(listener, b"tcp");
        let settings = Settings {
            udp_preference_limit: 1,
            ..settings()
        };
        let reply = send_ping(address, Transport::Any, &settings).await.unwrap();
        assert_eq!(reply, b"tcp");
    }

    #[tokio::test]
    async fn silent_udp_kdc_gets_three_passes() {
        let (address, start, arrivals) = silent_udp().await;
        let attempts = send_ping(address, Transport::Udp, &fast_settings())
            .await
            .unwrap_err();
        let elapsed = start.elapsed();

        // Sends at 0, 1 + 2 and 3 + 1 + 4 steps, then 1 + 8 more steps.
        let arrivals = arrivals.lock().unwrap().clone();
        assert_eq!(arrivals.len(), 3, "{arrivals:?}");
        assert!(arrivals[1] >= STEP * 3, "{arrivals:?}");
        assert!(arrivals[2] >= STEP * 8, "{arrivals:?}");
        assert!(elapsed >= STEP * 17, "{elapsed:?}");
        assert!(elapsed < STEP * 17 + SLACK, "{elapsed:?}");

        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].kdc, address.to_string());
        assert_eq!(attempts[0].transport, "udp");
        assert!(
            attempts[0].error.starts_with("no reply to 3 datagrams in "),
            "{}",
            attempts[0]
        );
    }

    #[tokio::test]
    async fn late_udp_reply_is_accepted() {
        // The server replies once, to the first datagram, after the client
        // has resent it: the first socket must still be open to take it.
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            let (_, peer) = socket.recv_from(&mut buffer).await.unwrap();
            socket.recv_from(&mut buffer).await.unwrap();
            socket.send_to(b"late", peer).await.unwrap();
        });
        let reply = send_ping(address, Transport::Udp, &fast_settings())
            .await
            .unwrap();
        assert_eq!(reply, b"late");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn earlier_kdc_reply_is_accepted() {
        // The first KDC replies only after the client has moved on to the
        // second, which never replies.
        let first = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let first_address = first.local_addr().unwrap();
        let (second_address, _, second_arrivals) = silent_udp().await;
        let watched = Arc::clone(&second_arrivals);
        tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            let (_, peer) = first.recv_from(&mut buffer).await.unwrap();
            while watched.lock().unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            first.send_to(b"first", peer).await.unwrap();
        });
        let kdcs = [
            endpoint(first_address, Transport::Udp),
            endpoint(second_address, Transport::Udp),
        ];
        let reply = send(b"ping", &kdcs, &fast_settings()).await.unwrap();
        assert_eq!(reply, b"first");
        assert_eq!(second_arrivals.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn established_tcp_delays_resends() {
        // UDP and TCP on one port: the datagrams are dropped and the TCP
        // connection is accepted but gets no reply.
        let (address, start, arrivals) = silent_udp().await;
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        tokio::spawn(async move {
            let mut open_streams = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open_streams.push(stream);
            }
        });
        let attempts = send_ping(address, Transport::Any, &fast_settings())
            .await
            .unwrap_err();
        let elapsed = start.elapsed();

        // UDP at 0, TCP at 1 step, paused to 11, then 2 more. Resends at 13 and
        // 13 + 1 + 4 = 18, and the request ends 1 + 8 steps later.
        let arrivals = arrivals.lock().unwrap().clone();
        assert_eq!(arrivals.len(), 3, "{arrivals:?}");
        assert!(arrivals[1] >= STEP * 13, "{arrivals:?}");
        assert!(elapsed >= STEP * 27, "{elapsed:?}");
        assert!(elapsed < STEP * 27 + SLACK, "{elapsed:?}");

        let text: Vec<String> = attempts.iter().map(Attempt::to_string).collect();
        assert_eq!(attempts.len(), 2, "{text:?}");
        assert!(text[0].starts_with(&format!("{address} (udp): no reply to 3 datagrams")));
        assert!(text[1].starts_with(&format!("{address} (tcp): connected, but no reply")));
    }

    #[tokio::test]
    async fn request_timeout_ends_request() {
        let (address, start, _) = silent_udp().await;
        let settings = Settings {
            request_timeout: Some(STEP * 5),
            ..fast_settings()
        };
        let attempts = send_ping(address, Transport::Udp, &settings)
            .await
            .unwrap_err();
        let elapsed = start.elapsed();
        assert!(elapsed >= STEP * 5, "{elapsed:?}");
        assert!(elapsed < STEP * 5 + SLACK, "{elapsed:?}");
        assert_eq!(attempts.len(), 1);
        assert!(
            attempts[0]
                .error
                .ends_with("when request_timeout ended the request"),
            "{}",
            attempts[0]
        );
    }

    #[tokio::test]
    async fn svc_unavailable_moves_to_next_kdc() {
        let busy_address = udp_replying(krb_error(error_code::KDC_ERR_SVC_UNAVAILABLE)).await;
        let live_address = udp_replying(b"reply".to_vec()).await;
        let kdcs = [
            endpoint(busy_address, Transport::Udp),
            endpoint(live_address, Transport::Udp),
        ];
        let reply = send(b"ping", &kdcs, &settings()).await.unwrap();
        assert_eq!(reply, b"reply");
    }

    #[tokio::test]
    async fn response_too_big_switches_to_tcp() {
        let address = udp_replying(krb_error(error_code::KRB_ERR_RESPONSE_TOO_BIG)).await;
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        tcp_replying(listener, b"tcp");
        // A UDP-only KDC is still asked over TCP, and at once.
        let start = Instant::now();
        let reply = send_ping(address, Transport::Udp, &settings())
            .await
            .unwrap();
        assert_eq!(reply, b"tcp");
        assert!(start.elapsed() < SLACK, "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn refused_everywhere_fails_fast() {
        let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = dead.local_addr().unwrap();
        drop(dead);
        let start = Instant::now();
        let attempts = send_ping(address, Transport::Any, &settings())
            .await
            .unwrap_err();
        assert!(start.elapsed() < SLACK, "{:?}", start.elapsed());
        let text: Vec<String> = attempts.iter().map(Attempt::to_string).collect();
        assert_eq!(attempts.len(), 2, "{text:?}");
        assert!(
            text[0].starts_with(&format!("{address} (udp): receive failed")),
            "{text:?}"
        );
        assert!(
            text[1].starts_with(&format!("{address} (tcp): cannot connect")),
            "{text:?}"
        );
    }
}
