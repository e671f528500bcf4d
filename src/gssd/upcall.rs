//! Handling one upcall: credentials, the service ticket, the RPCSEC_GSS
//! creation call against the NFS server, and the downcall.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use krb5::config::Config;
use krb5::credentials::Credential;
use krb5::gss::initiator::RPCSEC_GSS_FLAGS;
use krb5::gss::status::{krb5_minor, major};
use krb5::kdc::{KdcClient, ServiceCredentials, TgsOptions};
use krb5::keytab::Keytab;
use krb5::locate::Locator;
use krb5::messages::error_code;
use krb5::Principal;
use log::{debug, info, warn};

use super::creds::{
    self, CredsError, CredsSettings, LocalHost, MachineCache, TicketQuery, UserCredential,
    EXPIRY_MARGIN,
};
use crate::kernel::downcall::{errno, ContextDowncall};
use crate::kernel::info::ClientInfo;
use crate::kernel::upcall::Upcall;
use crate::mech::{self, now, InitStep, InitiatorRequest};
use crate::rpc::gss_init::{decode_reply, GssProc, InitCall};
use crate::rpc::rpcbind::{self, Mapping};
use crate::rpc::transport::{self, Deadlines, Protocol};

/// The NFS program number; NFSv4 servers listen on port 2049.
const NFS_PROGRAM: u32 = 100_003;
const NFS_PORT: u16 = 2049;
/// The wait for the server's reply to the context-creation call. `-T`
/// bounds only the connection, as in rpc.gssd, whose RPC library
/// (libtirpc's `rpc_gss_seccreate`) waits 25 s for this reply. A busy
/// server (many clients at once, each INIT waiting for its svcgssd) needs
/// more than the 5 s default of `-T`.
const INIT_REPLY_TIMEOUT: Duration = Duration::from_secs(25);

/// Daemon-wide settings and state shared by all upcalls.
pub struct Gssd {
    pub config: Arc<Config>,
    pub kdc: KdcClient,
    pub locator: Locator,
    pub creds: CredsSettings,
    pub host: LocalHost,
    /// uid 0 uses machine credentials (no `-n`).
    pub use_machine_creds: bool,
    /// `allowed-enctypes`, if set.
    pub allowed_enctypes: Option<Vec<i32>>,
    /// Replaces the context lifetime in downcalls when non-zero (`-t`).
    pub context_timeout: u32,
    /// Timeout of the creation call (`-T`).
    pub rpc_timeout: Duration,
    /// Reverse-resolve server addresses even for dotted names (`-D`).
    pub always_reverse_resolve: bool,
    pub machine_cache: MachineCache,
    /// Service tickets by uid, client principal and service principal.
    service_tickets: Mutex<HashMap<TicketKey, Credential>>,
}

/// The key of the in-memory service tickets: uid, client and service.
type TicketKey = (u32, String, String);

/// A failed upcall: the errno to send down and a message for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcallError {
    pub errno: i32,
    pub message: String,
}

impl UpcallError {
    fn access(message: impl Into<String>) -> Self {
        Self {
            errno: errno::EACCES,
            message: message.into(),
        }
    }
}

impl From<CredsError> for UpcallError {
    fn from(e: CredsError) -> Self {
        Self {
            errno: if e.expired {
                errno::EKEYEXPIRED
            } else {
                errno::EACCES
            },
            message: e.message,
        }
    }
}

fn now_u32() -> u32 {
    u32::try_from(now().0.max(0)).unwrap_or(u32::MAX)
}

impl Gssd {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        kdc: KdcClient,
        locator: Locator,
        creds: CredsSettings,
        host: LocalHost,
        use_machine_creds: bool,
        allowed_enctypes: Option<Vec<i32>>,
        context_timeout: u32,
        rpc_timeout: Duration,
        always_reverse_resolve: bool,
    ) -> Self {
        Self {
            config,
            kdc,
            locator,
            creds,
            host,
            use_machine_creds,
            allowed_enctypes,
            context_timeout,
            rpc_timeout,
            always_reverse_resolve,
            machine_cache: MachineCache::default(),
            service_tickets: Mutex::new(HashMap::new()),
        }
    }

    /// Handles one upcall and returns the downcall to write.
    pub async fn handle(&self, info: &ClientInfo, upcall: &Upcall) -> Result<Vec<u8>, UpcallError> {
        let mechanism = mech::by_name(&upcall.mech).ok_or_else(|| {
            UpcallError::access(format!("unknown mechanism {:?} in upcall", upcall.mech))
        })?;
        if mechanism.name() != "krb5" {
            return Err(UpcallError::access(spkm3::UNAVAILABLE));
        }

        let target = match &upcall.target {
            Some(target) => target.clone(),
            None => format!("{}@{}", info.program_name, self.server_name(info).await?),
        };
        let service = self.service_principal(&target).await?;
        let machine = upcall.service.is_some() || (upcall.uid == 0 && self.use_machine_creds);
        let enctypes = self.enctypes(&upcall.enctypes)?;
        debug!(
            "upcall for uid {} to {service} ({} credentials), enctypes {enctypes:?}",
            upcall.uid,
            if machine { "machine" } else { "user" }
        );

        let mut retried = false;
        loop {
            let ticket = if machine {
                let tgt = self.machine_tgt(upcall, &service).await?;
                let (obtained, from_kdc) = self
                    .service_ticket(upcall.uid, &tgt, &service, &enctypes)
                    .await?;
                if from_kdc {
                    creds::store_machine_tickets(&self.creds, &tgt.client, &service, &obtained);
                }
                obtained.credential
            } else {
                // After the server failed to decrypt a ticket, the one in
                // the user's cache is as stale as the one in memory.
                self.user_service_ticket(upcall.uid, &service, &enctypes, !retried)
                    .await?
            };
            match self
                .establish(info, upcall, &target, &ticket, &enctypes)
                .await
            {
                Err(e) if e.errno == BAD_INTEGRITY_RETRY && !retried => {
                    // The server could not decrypt the ticket, typically
                    // after its keys were changed: get fresh tickets once.
                    warn!(
                        "{}; getting a new ticket for {service} and retrying once",
                        e.message
                    );
                    self.forget_service_ticket(upcall.uid, &ticket.client, &service);
                    retried = true;
                }
                Err(e) if e.errno == BAD_INTEGRITY_RETRY => {
                    return Err(UpcallError::access(e.message))
                }
                other => return other,
            }
        }
    }

    /// Returns the server's name for the target: the mount's name when it is a
    /// dotted name, else the reverse lookup of its address.
    async fn server_name(&self, info: &ClientInfo) -> Result<String, UpcallError> {
        let is_address = info.server.parse::<IpAddr>().is_ok();
        if info.server.contains('.') && !is_address && !self.always_reverse_resolve {
            return Ok(info.server.to_lowercase());
        }
        let address: IpAddr = info.address.parse().map_err(|_| {
            UpcallError::access(format!(
                "server address {:?} is not an IP address",
                info.address
            ))
        })?;
        self.locator
            .reverse_lookup(address)
            .await
            .map(|name| name.trim_end_matches('.').to_lowercase())
            .ok_or_else(|| {
                UpcallError::access(format!(
                    "cannot resolve server address {address} to a name; add it to /etc/hosts or DNS, or mount by name"
                ))
            })
    }

    /// Turns `service@host` into `service/host@REALM`.
    async fn service_principal(&self, target: &str) -> Result<Principal, UpcallError> {
        let (service, host) = target.split_once('@').ok_or_else(|| {
            UpcallError::access(format!("target {target:?} is not in service@host form"))
        })?;
        let host = host.to_lowercase();
        let realm = self
            .locator
            .realm_for_host(&self.config, &host)
            .await
            .ok()
            .flatten()
            .or_else(|| self.config.default_realm().map(str::to_string))
            .ok_or_else(|| {
                UpcallError::access(format!(
                    "no realm for server {host}: add it to [domain_realm] or set default_realm in krb5.conf"
                ))
            })?;
        Ok(Principal::host_service(service, &host, &realm))
    }

    /// krb5.conf's permitted enctypes, in their order, that the kernel
    /// listed and `allowed-enctypes` allows.
    fn enctypes(&self, kernel: &[i32]) -> Result<Vec<i32>, UpcallError> {
        let permitted = self
            .config
            .permitted_enctypes()
            .map_err(|e| UpcallError::access(e.to_string()))?;
        let list: Vec<i32> = permitted
            .into_iter()
            .filter(|e| kernel.is_empty() || kernel.contains(e))
            .filter(|e| self.allowed_enctypes.as_ref().is_none_or(|a| a.contains(e)))
            .collect();
        if list.is_empty() {
            return Err(UpcallError::access(format!(
                "no enctype is both permitted by krb5.conf and supported by the kernel ({kernel:?})"
            )));
        }
        Ok(list)
    }

    async fn machine_tgt(
        &self,
        upcall: &Upcall,
        service: &Principal,
    ) -> Result<Credential, UpcallError> {
        let keytab = Keytab::load(&self.creds.keytab).map_err(|e| {
            UpcallError::access(format!("cannot read keytab {}: {e}", self.creds.keytab))
        })?;
        let host = match &upcall.srchost {
            Some(srchost) => LocalHost {
                fqdn: srchost.to_lowercase(),
                short: srchost.to_lowercase(),
            },
            None => self.host.clone(),
        };

        let mut realms: Vec<String> = Vec::new();
        for realm in [
            self.creds.preferred_realm.clone(),
            Some(service.realm.clone()),
            self.config.default_realm().map(str::to_string),
        ]
        .into_iter()
        .flatten()
        {
            if !realms.contains(&realm) {
                realms.push(realm);
            }
        }
        let services = creds::machine_services(upcall.service.as_deref());
        let principal = creds::find_machine_principal(&keytab, &host, &services, &realms)
            .ok_or_else(|| {
                UpcallError::access(format!(
                    "keytab {} has no machine principal ({}) for host {} in realms {}",
                    self.creds.keytab,
                    services.join(", "),
                    host.fqdn,
                    realms.join(", ")
                ))
            })?;
        Ok(self
            .machine_cache
            .tgt(
                &self.kdc,
                &self.config,
                &keytab,
                &principal,
                &self.creds,
                now_u32(),
            )
            .await?)
    }

    /// Returns a ticket for `service` from the caches of `uid`: a usable
    /// one already there (when `use_cached`), else one got with the
    /// user's TGT, which is then stored in the cache that contains the TGT.
    async fn user_service_ticket(
        &self,
        uid: u32,
        service: &Principal,
        enctypes: &[i32],
        use_cached: bool,
    ) -> Result<Credential, UpcallError> {
        let query = TicketQuery {
            service: service.clone(),
            enctypes: enctypes.to_vec(),
        };
        let found = creds::user_credential(
            &self.config,
            uid,
            &self.creds,
            uid == 0,
            now_u32(),
            use_cached.then_some(&query),
        )
        .await?;
        let (tgt, cache) = match found {
            UserCredential::ServiceTicket(ticket) => {
                debug!(
                    "using the ticket for {service} of {} from the credential cache of uid {uid}",
                    ticket.client
                );
                return Ok(ticket);
            }
            UserCredential::Tgt { tgt, cache } => (tgt, cache),
        };

        let (obtained, _) = self.service_ticket(uid, &tgt, service, enctypes).await?;
        // As MIT's gss_init_sec_context does, the ticket is stored under the
        // name that was asked for, after the cross-realm TGTs on the way.
        let mut stored = obtained.tgts;
        stored.push(Credential {
            server: service.clone(),
            ..obtained.credential.clone()
        });
        match creds::store_user_credentials(&self.config, uid, &self.creds, &cache, &stored).await {
            Ok(()) => debug!("stored the ticket for {service} in {cache} of uid {uid}"),
            Err(e) => warn!("{e}; the ticket for {service} stays in memory only"),
        }
        Ok(obtained.credential)
    }

    /// Returns a ticket for `service` with `tgt`: from memory while it is
    /// valid for more than [`EXPIRY_MARGIN`] seconds and has one of
    /// `enctypes`, else from the KDC. The flag is true when the KDC issued
    /// it. Tickets from memory come without cross-realm TGTs.
    async fn service_ticket(
        &self,
        uid: u32,
        tgt: &Credential,
        service: &Principal,
        enctypes: &[i32],
    ) -> Result<(ServiceCredentials, bool), UpcallError> {
        let key = (uid, tgt.client.to_string(), service.to_string());
        if let Some(ticket) = self.lock_tickets().get(&key) {
            if ticket.endtime > now_u32().saturating_add(EXPIRY_MARGIN)
                && enctypes.contains(&ticket.session_key.enctype())
            {
                let cached = ServiceCredentials {
                    credential: ticket.clone(),
                    tgts: Vec::new(),
                };
                return Ok((cached, false));
            }
        }
        let options = TgsOptions {
            enctypes: Some(enctypes.to_vec()),
            ..TgsOptions::default()
        };
        let result = self
            .kdc
            .get_service_credentials(tgt, service, &options)
            .await
            .map_err(|e| {
                UpcallError::access(format!(
                    "cannot get a ticket for {service} as {}: {e}",
                    tgt.client
                ))
            })?;
        self.lock_tickets().insert(key, result.credential.clone());
        Ok((result, true))
    }

    fn forget_service_ticket(&self, uid: u32, client: &Principal, service: &Principal) {
        self.lock_tickets()
            .remove(&(uid, client.to_string(), service.to_string()));
    }

    fn lock_tickets(&self) -> std::sync::MutexGuard<'_, HashMap<TicketKey, Credential>> {
        self.service_tickets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the RPCSEC_GSS creation exchange and builds the downcall.
    async fn establish(
        &self,
        info: &ClientInfo,
        upcall: &Upcall,
        target: &str,
        ticket: &Credential,
        enctypes: &[i32],
    ) -> Result<Vec<u8>, UpcallError> {
        let mechanism = mech::by_name("krb5").ok_or_else(|| UpcallError::access("krb5 missing"))?;
        let request = InitiatorRequest {
            ticket,
            flags: RPCSEC_GSS_FLAGS,
            enctypes,
            now: now(),
        };
        let step = mechanism.init_sec_context(&request).map_err(|e| {
            UpcallError::access(format!("cannot start a context with {target}: {e}"))
        })?;
        let InitStep::ContinueNeeded(pending, token) = step else {
            return Err(UpcallError::access(
                "the krb5 initiator did not ask for mutual authentication",
            ));
        };

        let protocol = if info.protocol == "udp" {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        let address = self.server_address(info, protocol).await?;
        let mut xid = [0u8; 4];
        getrandom::fill(&mut xid).map_err(|e| UpcallError::access(e.to_string()))?;
        let xid = u32::from_be_bytes(xid);
        let call = InitCall {
            xid,
            program: info.program,
            version: info.version,
            gss_proc: GssProc::Init,
            handle: &[],
            token: &token,
        }
        .encode()
        .map_err(|e| UpcallError::access(e.to_string()))?;

        let deadlines = Deadlines {
            connect: self.rpc_timeout,
            reply: self.rpc_timeout.max(INIT_REPLY_TIMEOUT),
        };
        let reply = transport::call(address, protocol, &call, xid, deadlines)
            .await
            .map_err(|e| {
                UpcallError::access(format!("RPCSEC_GSS init call to {target} failed: {e}"))
            })?;
        let result = decode_reply(&reply, xid).map_err(|e| {
            UpcallError::access(format!("RPCSEC_GSS init reply from {target}: {e}"))
        })?;
        if result.major != major::COMPLETE {
            let message = format!(
                "{target} rejected the context: {} (major {:#x}, minor {})",
                major::name(result.major),
                result.major,
                result.minor as i32
            );
            let errno = if result.minor == krb5_minor(error_code::KRB_AP_ERR_BAD_INTEGRITY) {
                BAD_INTEGRITY_RETRY
            } else {
                errno::EACCES
            };
            return Err(UpcallError { errno, message });
        }

        let context = pending.complete(&result.token).map_err(|e| {
            UpcallError::access(format!("completing the context with {target}: {e}"))
        })?;
        context
            .verify_mic(&result.seq_window.to_be_bytes(), &result.verifier)
            .map_err(|e| {
                UpcallError::access(format!(
                    "the reply verifier from {target} does not verify: {e}"
                ))
            })?;
        let exported = context
            .export()
            .map_err(|e| UpcallError::access(format!("cannot export the context: {e}")))?;

        let timeout = if self.context_timeout != 0 {
            self.context_timeout
        } else {
            u32::try_from((i64::from(context.endtime()) - now().0).max(0)).unwrap_or(u32::MAX)
        };
        let downcall = ContextDowncall {
            uid: upcall.uid,
            timeout,
            window: result.seq_window,
            handle: &result.handle,
            context: &exported,
            acceptor: Some(target),
        }
        .encode()
        .map_err(|e| UpcallError::access(e.to_string()))?;
        info!(
            "established a context for uid {} as {} with {target}, handle {}, lifetime {timeout} s",
            upcall.uid,
            context.initiator_name(),
            hex::encode(&result.handle)
        );
        Ok(downcall)
    }

    /// Returns the server's address and the port of the service: 2049 for
    /// RDMA, else the port from `info`, else 2049 for NFSv4, else the port
    /// from the server's rpcbind.
    async fn server_address(
        &self,
        info: &ClientInfo,
        protocol: Protocol,
    ) -> Result<SocketAddr, UpcallError> {
        let address: IpAddr = info.address.parse().map_err(|_| {
            UpcallError::access(format!(
                "server address {:?} is not an IP address",
                info.address
            ))
        })?;
        let port = match info.port {
            // The creation call cannot travel over RDMA, so it goes to the
            // server's TCP port for NFS, as rpc.gssd does.
            _ if info.protocol == "rdma" => NFS_PORT,
            Some(port) if port != 0 => port,
            _ if info.program == NFS_PROGRAM && info.version == 4 => NFS_PORT,
            _ => {
                let mapping = Mapping {
                    program: info.program,
                    version: info.version,
                    protocol,
                };
                let port = rpcbind::lookup_port(address, &mapping, self.rpc_timeout)
                    .await
                    .map_err(|e| {
                        UpcallError::access(format!(
                            "cannot find the port of {} version {} on {address}: {e}",
                            info.program_name, info.version
                        ))
                    })?;
                debug!(
                    "rpcbind on {address} gives port {port} for program {} version {}",
                    info.program, info.version
                );
                port
            }
        };
        Ok(SocketAddr::new(address, port))
    }
}

/// An internal errno marking "the server could not decrypt the ticket", which
/// is retried once with a fresh ticket before EACCES goes down.
const BAD_INTEGRITY_RETRY: i32 = -1;

#[cfg(test)]
mod tests {
    use krb5::locate::{DnsSettings, HostsFile};

    use super::*;

    /// Returns a daemon with default settings. The SPKM-3 upcall fails
    /// before it uses any of them.
    fn gssd() -> Gssd {
        let config = Arc::new(Config::from_text("", "an empty krb5.conf").unwrap());
        Gssd::new(
            Arc::clone(&config),
            KdcClient::from_config(config).unwrap(),
            Locator::new(&DnsSettings::default(), HostsFile::default()).unwrap(),
            CredsSettings {
                keytab: "/nonexistent/krb5.keytab".to_string(),
                ccache_dirs: Vec::new(),
                preferred_realm: None,
                memory_cache: true,
                as_user: false,
            },
            LocalHost {
                fqdn: "client.example.test".to_string(),
                short: "client".to_string(),
            },
            true,
            None,
            0,
            Duration::from_secs(5),
            false,
        )
    }

    #[tokio::test]
    async fn spkm3_upcall_is_rejected() {
        let info = ClientInfo {
            server: "server.example.test".to_string(),
            program_name: "nfs".to_string(),
            program: NFS_PROGRAM,
            version: 4,
            address: "127.0.0.1".to_string(),
            protocol: "tcp".to_string(),
            port: Some(NFS_PORT),
        };
        let upcall = Upcall {
            mech: "spkm3".to_string(),
            uid: 1000,
            target: None,
            service: None,
            srchost: None,
            enctypes: Vec::new(),
        };
        let error = gssd().handle(&info, &upcall).await.unwrap_err();
        assert_eq!(error.errno, errno::EACCES);
        assert_eq!(error.message, spkm3::UNAVAILABLE);
    }
}
