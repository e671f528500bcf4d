//! XDR codec for the gss-proxy protocol's `GSSX_ACCEPT_SEC_CONTEXT` call
//! (program 400112, version 1, procedure 9), the only procedure the Linux
//! kernel's NFS server calls.
//!
//! The types are those of gssproxy's `x-files/gss_proxy.x`. The kernel
//! (net/sunrpc/auth_gss/gss_rpc_xdr.c and gss_rpc_upcall.c, Linux 6.12)
//! sends a fixed subset of them and reads the result into fixed-size
//! buffers, so the encoder checks the [`kernel_limit`]s before it writes.
//! Option names and values carry their trailing NUL byte, because the kernel
//! measures them with `sizeof` and compares whole buffers.

use krb5::codec::{DecodeError, Reader, Writer};

use crate::rpc::xdr::{get_bool, get_count, get_opaque, put_bool, put_opaque};

/// The gss-proxy RPC program number.
pub const PROGRAM: u32 = 400_112;
/// The only version of the program.
pub const VERSION: u32 = 1;
/// `GSSX_ACCEPT_SEC_CONTEXT`.
pub const PROC_ACCEPT_SEC_CONTEXT: u32 = 9;
/// The highest procedure number of version 1 (`GSSX_WRAP_SIZE_LIMIT`).
pub const PROC_MAX: u32 = 15;

/// Option names and values the kernel sends in the call context and reads
/// in the result, each with its trailing NUL.
pub mod option {
    /// Requests an exported context in the format named by the value.
    pub const EXPORTED_CONTEXT_TYPE: &[u8] = b"exported_context_type\0";
    /// The kernel's lucid context format. Despite the name, the context
    /// carried is the version 2 lucid layout.
    pub const LINUX_LUCID_V1: &[u8] = b"linux_lucid_v1\0";
    /// Requests the client's Unix credentials in the format named by the value.
    pub const EXPORTED_CREDS_TYPE: &[u8] = b"exported_creds_type\0";
    /// uid, gid, group count and groups, as host-order 32-bit integers.
    pub const LINUX_CREDS_V1: &[u8] = b"linux_creds_v1\0";
}

/// The sizes of the kernel's buffers for the result (gss_rpc_xdr.h,
/// Linux 6.12). A longer value makes the kernel's decoder fail the whole
/// call with -ENOSPC, which the NFS client sees as a dropped request.
pub mod kernel_limit {
    /// `GSSX_max_output_handle_sz`: the exported context.
    pub const EXPORTED_CONTEXT: usize = 128;
    /// `GSSX_max_oid_sz`: the mechanism OID.
    pub const OID: usize = 16;
    /// `GSSX_max_princ_sz`: each display name.
    pub const PRINCIPAL: usize = 256;
    /// `GSSX_max_output_token_sz`: the token for the client.
    pub const OUTPUT_TOKEN: usize = 1024;
    /// `NGROUPS_MAX`: supplementary groups in `linux_creds_v1`.
    pub const GROUPS: usize = 65_536;
}

/// The largest single opaque the decoder takes. It bounds the client's
/// token: Kerberos tickets with a large PAC reach tens of KiB, and the
/// record reassembly limits a whole call further.
pub const MAX_OPAQUE: usize = 16 * 1024 * 1024;

/// The smallest encodings, which bound array counts against the input left.
const MIN_OPTION_LEN: usize = 8;
const MIN_NAME_ATTR_LEN: usize = 12;
const MIN_NAME_LEN: usize = 24;
const MIN_CRED_ELEMENT_LEN: usize = MIN_NAME_LEN + 4 + 4 + 8 + 8 + 4;

/// `gssx_option`: a name and a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GssxOption {
    pub option: Vec<u8>,
    pub value: Vec<u8>,
}

/// `gssx_call_ctx`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallCtx {
    pub locale: Vec<u8>,
    pub server_ctx: Vec<u8>,
    pub options: Vec<GssxOption>,
}

impl CallCtx {
    /// Returns the value of the first option named `name`.
    pub fn option(&self, name: &[u8]) -> Option<&[u8]> {
        find_option(&self.options, name)
    }

    /// Returns true if the caller asked for the kernel's lucid context.
    pub fn wants_lucid_context(&self) -> bool {
        self.option(option::EXPORTED_CONTEXT_TYPE) == Some(option::LINUX_LUCID_V1)
    }

    /// Returns true if the caller asked for `linux_creds_v1`.
    pub fn wants_linux_creds(&self) -> bool {
        self.option(option::EXPORTED_CREDS_TYPE) == Some(option::LINUX_CREDS_V1)
    }
}

/// `gssx_name`. Name attributes and extensions are decoded and dropped,
/// because no caller of this protocol that rgssd serves sends any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Name {
    pub display_name: Vec<u8>,
    pub name_type: Vec<u8>,
    pub exported_name: Vec<u8>,
    pub exported_composite_name: Vec<u8>,
}

/// `gssx_ctx`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ctx {
    pub exported_context_token: Vec<u8>,
    pub state: Vec<u8>,
    pub needs_release: bool,
    pub mech: Vec<u8>,
    pub src_name: Name,
    pub targ_name: Name,
    /// Seconds the context stays valid. gss_proxy.x calls it a time since
    /// the epoch, but gssproxy sends the remaining lifetime, and the kernel
    /// ignores it in favour of the lucid context's end time.
    pub lifetime: u64,
    pub ctx_flags: u64,
    pub locally_initiated: bool,
    pub open: bool,
    pub options: Vec<GssxOption>,
}

/// `gssx_cred_element`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredElement {
    pub mn: Name,
    pub mech: Vec<u8>,
    pub cred_usage: u32,
    pub initiator_time_rec: u64,
    pub acceptor_time_rec: u64,
    pub options: Vec<GssxOption>,
}

/// `gssx_cred`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cred {
    pub desired_name: Name,
    pub elements: Vec<CredElement>,
    pub cred_handle_reference: Vec<u8>,
    pub needs_release: bool,
}

/// `gssx_cb`: channel bindings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelBindings {
    pub initiator_addrtype: u64,
    pub initiator_address: Vec<u8>,
    pub acceptor_addrtype: u64,
    pub acceptor_address: Vec<u8>,
    pub application_data: Vec<u8>,
}

/// `gssx_arg_accept_sec_context`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AcceptArgs {
    pub call_ctx: CallCtx,
    /// Absent on the first call of a context.
    pub context_handle: Option<Ctx>,
    /// Absent: the acceptor uses its own credentials.
    pub cred_handle: Option<Cred>,
    pub input_token: Vec<u8>,
    pub input_cb: Option<ChannelBindings>,
    pub ret_deleg_cred: bool,
    pub options: Vec<GssxOption>,
}

/// `gssx_status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub major_status: u64,
    pub mech: Vec<u8>,
    pub minor_status: u64,
    pub major_status_string: Vec<u8>,
    pub minor_status_string: Vec<u8>,
    pub server_ctx: Vec<u8>,
    pub options: Vec<GssxOption>,
}

/// `gssx_res_accept_sec_context`. Delegated credentials are never returned:
/// the kernel rejects a result that carries them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AcceptResult {
    pub status: Status,
    pub context_handle: Option<Ctx>,
    pub output_token: Option<Vec<u8>>,
    pub options: Vec<GssxOption>,
}

/// The Unix identity of the client, as the `linux_creds_v1` option carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxCreds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// An encoding failure: a field longer than the kernel's buffer for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{field} is {len} bytes, more than the {max} bytes the kernel accepts")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

fn find_option<'a>(options: &'a [GssxOption], name: &[u8]) -> Option<&'a [u8]> {
    options
        .iter()
        .find(|o| o.option == name)
        .map(|o| o.value.as_slice())
}

fn check_len(field: &'static str, bytes: &[u8], max: usize) -> Result<(), EncodeError> {
    if bytes.len() > max {
        return Err(EncodeError::TooLong {
            field,
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

fn get_vec(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<u8>, DecodeError> {
    Ok(get_opaque(r, field, MAX_OPAQUE)?.to_vec())
}

fn get_options(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<GssxOption>, DecodeError> {
    let count = get_count(r, field, MIN_OPTION_LEN)?;
    let mut options = Vec::with_capacity(count);
    for _ in 0..count {
        options.push(GssxOption {
            option: get_vec(r, "gssx_option.option")?,
            value: get_vec(r, "gssx_option.value")?,
        });
    }
    Ok(options)
}

fn put_options(w: &mut Writer, options: &[GssxOption]) {
    w.u32(u32::try_from(options.len()).unwrap_or(u32::MAX));
    for o in options {
        put_opaque(w, &o.option);
        put_opaque(w, &o.value);
    }
}

impl Name {
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let name = Name {
            display_name: get_vec(r, "gssx_name.display_name")?,
            name_type: get_vec(r, "gssx_name.name_type")?,
            exported_name: get_vec(r, "gssx_name.exported_name")?,
            exported_composite_name: get_vec(r, "gssx_name.exported_composite_name")?,
        };
        let attributes = get_count(r, "gssx_name.name_attributes", MIN_NAME_ATTR_LEN)?;
        for _ in 0..attributes {
            get_opaque(r, "gssx_name_attr.attr", MAX_OPAQUE)?;
            get_opaque(r, "gssx_name_attr.value", MAX_OPAQUE)?;
            get_options(r, "gssx_name_attr.extensions")?;
        }
        get_options(r, "gssx_name.extensions")?;
        Ok(name)
    }

    /// Encodes the name with no attributes or extensions.
    pub fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        check_len(
            "gssx_name.display_name",
            &self.display_name,
            kernel_limit::PRINCIPAL,
        )?;
        put_opaque(w, &self.display_name);
        put_opaque(w, &self.name_type);
        put_opaque(w, &self.exported_name);
        put_opaque(w, &self.exported_composite_name);
        w.u32(0);
        w.u32(0);
        Ok(())
    }
}

impl Ctx {
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Ctx {
            exported_context_token: get_vec(r, "gssx_ctx.exported_context_token")?,
            state: get_vec(r, "gssx_ctx.state")?,
            needs_release: get_bool(r, "gssx_ctx.needs_release")?,
            mech: get_vec(r, "gssx_ctx.mech")?,
            src_name: Name::decode(r)?,
            targ_name: Name::decode(r)?,
            lifetime: r.u64("gssx_ctx.lifetime")?,
            ctx_flags: r.u64("gssx_ctx.ctx_flags")?,
            locally_initiated: get_bool(r, "gssx_ctx.locally_initiated")?,
            open: get_bool(r, "gssx_ctx.open")?,
            options: get_options(r, "gssx_ctx.options")?,
        })
    }

    pub fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        check_len(
            "gssx_ctx.exported_context_token",
            &self.exported_context_token,
            kernel_limit::EXPORTED_CONTEXT,
        )?;
        check_len("gssx_ctx.mech", &self.mech, kernel_limit::OID)?;
        put_opaque(w, &self.exported_context_token);
        put_opaque(w, &self.state);
        put_bool(w, self.needs_release);
        put_opaque(w, &self.mech);
        self.src_name.encode(w)?;
        self.targ_name.encode(w)?;
        w.u64(self.lifetime);
        w.u64(self.ctx_flags);
        put_bool(w, self.locally_initiated);
        put_bool(w, self.open);
        put_options(w, &self.options);
        Ok(())
    }
}

impl CredElement {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CredElement {
            mn: Name::decode(r)?,
            mech: get_vec(r, "gssx_cred_element.mech")?,
            cred_usage: r.u32("gssx_cred_element.cred_usage")?,
            initiator_time_rec: r.u64("gssx_cred_element.initiator_time_rec")?,
            acceptor_time_rec: r.u64("gssx_cred_element.acceptor_time_rec")?,
            options: get_options(r, "gssx_cred_element.options")?,
        })
    }
}

impl Cred {
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let desired_name = Name::decode(r)?;
        let count = get_count(r, "gssx_cred.elements", MIN_CRED_ELEMENT_LEN)?;
        let mut elements = Vec::with_capacity(count);
        for _ in 0..count {
            elements.push(CredElement::decode(r)?);
        }
        Ok(Cred {
            desired_name,
            elements,
            cred_handle_reference: get_vec(r, "gssx_cred.cred_handle_reference")?,
            needs_release: get_bool(r, "gssx_cred.needs_release")?,
        })
    }
}

impl ChannelBindings {
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ChannelBindings {
            initiator_addrtype: r.u64("gssx_cb.initiator_addrtype")?,
            initiator_address: get_vec(r, "gssx_cb.initiator_address")?,
            acceptor_addrtype: r.u64("gssx_cb.acceptor_addrtype")?,
            acceptor_address: get_vec(r, "gssx_cb.acceptor_address")?,
            application_data: get_vec(r, "gssx_cb.application_data")?,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.initiator_addrtype);
        put_opaque(w, &self.initiator_address);
        w.u64(self.acceptor_addrtype);
        put_opaque(w, &self.acceptor_address);
        put_opaque(w, &self.application_data);
    }
}

impl AcceptArgs {
    /// Decodes the procedure's arguments, which must fill `body` exactly.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let call_ctx = CallCtx {
            locale: get_vec(&mut r, "gssx_call_ctx.locale")?,
            server_ctx: get_vec(&mut r, "gssx_call_ctx.server_ctx")?,
            options: get_options(&mut r, "gssx_call_ctx.options")?,
        };
        // NOTE: when the kernel passes a context handle (CONTINUE_INIT), it
        // writes the gssx_ctx without the XDR discriminant that marks an
        // optional field as present (gss_rpc_xdr.c, Linux 6.12). Its first
        // word, the empty exported_context_token's length, then reads as
        // "absent", and the rest fails to decode. The kernel only sends a
        // handle that an earlier result returned, and rgssd never returns
        // GSS_S_CONTINUE_NEEDED, so a context handle here is an error.
        let context_handle = if get_bool(&mut r, "context_handle")? {
            Some(Ctx::decode(&mut r)?)
        } else {
            None
        };
        let cred_handle = if get_bool(&mut r, "cred_handle")? {
            Some(Cred::decode(&mut r)?)
        } else {
            None
        };
        let input_token = get_vec(&mut r, "input_token")?;
        let input_cb = if get_bool(&mut r, "input_cb")? {
            Some(ChannelBindings::decode(&mut r)?)
        } else {
            None
        };
        let ret_deleg_cred = get_bool(&mut r, "ret_deleg_cred")?;
        let options = get_options(&mut r, "options")?;
        r.finish("gssx_arg_accept_sec_context")?;

        Ok(AcceptArgs {
            call_ctx,
            context_handle,
            cred_handle,
            input_token,
            input_cb,
            ret_deleg_cred,
            options,
        })
    }

    /// Encodes the arguments as the kernel does for a first call: with no
    /// context or credential handle. Test clients use it.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        put_opaque(&mut w, &self.call_ctx.locale);
        put_opaque(&mut w, &self.call_ctx.server_ctx);
        put_options(&mut w, &self.call_ctx.options);
        match &self.context_handle {
            Some(ctx) => {
                put_bool(&mut w, true);
                ctx.encode(&mut w)?;
            }
            None => put_bool(&mut w, false),
        }
        // Credential handles are only decoded; no client rgssd tests with
        // sends one.
        put_bool(&mut w, false);
        put_opaque(&mut w, &self.input_token);
        match &self.input_cb {
            Some(cb) => {
                put_bool(&mut w, true);
                cb.encode(&mut w);
            }
            None => put_bool(&mut w, false),
        }
        put_bool(&mut w, self.ret_deleg_cred);
        put_options(&mut w, &self.options);
        Ok(w.into_inner())
    }
}

impl Status {
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Status {
            major_status: r.u64("gssx_status.major_status")?,
            mech: get_vec(r, "gssx_status.mech")?,
            minor_status: r.u64("gssx_status.minor_status")?,
            major_status_string: get_vec(r, "gssx_status.major_status_string")?,
            minor_status_string: get_vec(r, "gssx_status.minor_status_string")?,
            server_ctx: get_vec(r, "gssx_status.server_ctx")?,
            options: get_options(r, "gssx_status.options")?,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.major_status);
        put_opaque(w, &self.mech);
        w.u64(self.minor_status);
        put_opaque(w, &self.major_status_string);
        put_opaque(w, &self.minor_status_string);
        put_opaque(w, &self.server_ctx);
        put_options(w, &self.options);
    }
}

impl AcceptResult {
    /// Encodes the result, failing if a field exceeds the kernel's buffer.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        self.status.encode(&mut w);
        match &self.context_handle {
            Some(ctx) => {
                put_bool(&mut w, true);
                ctx.encode(&mut w)?;
            }
            None => put_bool(&mut w, false),
        }
        match &self.output_token {
            Some(token) => {
                check_len("output_token", token, kernel_limit::OUTPUT_TOKEN)?;
                put_bool(&mut w, true);
                put_opaque(&mut w, token);
            }
            None => put_bool(&mut w, false),
        }
        put_bool(&mut w, false); // delegated_cred_handle
        put_options(&mut w, &self.options);
        Ok(w.into_inner())
    }

    /// Decodes a result as the kernel reads it, for test clients. A result
    /// with delegated credentials is rejected, as the kernel rejects it.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let status = Status::decode(&mut r)?;
        let context_handle = if get_bool(&mut r, "context_handle")? {
            Some(Ctx::decode(&mut r)?)
        } else {
            None
        };
        let output_token = if get_bool(&mut r, "output_token")? {
            Some(get_vec(&mut r, "output_token")?)
        } else {
            None
        };
        if get_bool(&mut r, "delegated_cred_handle")? {
            return Err(r.invalid(
                "delegated_cred_handle",
                "present, but the kernel accepts no delegated credentials",
            ));
        }
        let options = get_options(&mut r, "options")?;
        r.finish("gssx_res_accept_sec_context")?;
        Ok(AcceptResult {
            status,
            context_handle,
            output_token,
            options,
        })
    }

    /// Returns the value of the first result option named `name`.
    pub fn option(&self, name: &[u8]) -> Option<&[u8]> {
        find_option(&self.options, name)
    }
}

impl LinuxCreds {
    /// Builds the `linux_creds_v1` result option. Its integers are in host
    /// byte order, unlike the rest of XDR, because the kernel copies them
    /// without conversion.
    pub fn to_option(&self) -> Result<GssxOption, EncodeError> {
        if self.groups.len() > kernel_limit::GROUPS {
            return Err(EncodeError::TooLong {
                field: "linux_creds_v1 groups",
                len: self.groups.len(),
                max: kernel_limit::GROUPS,
            });
        }
        let mut value = Vec::with_capacity(4 * (3 + self.groups.len()));
        value.extend_from_slice(&self.uid.to_ne_bytes());
        value.extend_from_slice(&self.gid.to_ne_bytes());
        value.extend_from_slice(&(self.groups.len() as u32).to_ne_bytes());
        for group in &self.groups {
            value.extend_from_slice(&group.to_ne_bytes());
        }
        Ok(GssxOption {
            option: option::LINUX_CREDS_V1.to_vec(),
            value,
        })
    }

    /// Parses a `linux_creds_v1` value with the kernel's checks: the length
    /// must be exactly (3 + N) · 4 bytes for N groups.
    pub fn from_value(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(value);
        let uid = u32::from_ne_bytes(r.array("linux_creds_v1.uid")?);
        let gid = u32::from_ne_bytes(r.array("linux_creds_v1.gid")?);
        let count = u32::from_ne_bytes(r.array("linux_creds_v1.count")?) as usize;
        if count > kernel_limit::GROUPS || count.saturating_mul(4) != r.remaining() {
            return Err(r.invalid(
                "linux_creds_v1.count",
                format!(
                    "{count} groups do not match the {} bytes that follow",
                    r.remaining()
                ),
            ));
        }
        let mut groups = Vec::with_capacity(count);
        for _ in 0..count {
            groups.push(u32::from_ne_bytes(r.array("linux_creds_v1.groups")?));
        }
        Ok(LinuxCreds { uid, gid, groups })
    }
}

#[cfg(test)]
mod tests;
