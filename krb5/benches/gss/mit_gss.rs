//! MIT krb5's libgssapi_krb5.so.2, loaded at run time with libloading, so
//! that the benchmark drives MIT's acceptor and initiator in its own process.
//! The types follow MIT's `gssapi.h`, `gssapi_ext.h` and `gssapi_krb5.h`
//! (1.20): `OM_uint32` is `uint32_t`, `gss_cred_usage_t` is `int`, and
//! names, credentials and contexts are opaque pointers.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CString};
use std::ptr;

use libloading::Library;

/// `gss_buffer_desc`.
#[repr(C)]
struct Buffer {
    length: usize,
    value: *mut c_void,
}

impl Buffer {
    fn empty() -> Self {
        Self {
            length: 0,
            value: ptr::null_mut(),
        }
    }

    /// Borrows `bytes` as an input buffer, which MIT only reads.
    fn input(bytes: &[u8]) -> Self {
        Self {
            length: bytes.len(),
            value: bytes.as_ptr() as *mut c_void,
        }
    }
}

/// `gss_OID_desc`.
#[repr(C)]
struct Oid {
    length: u32,
    elements: *mut c_void,
}

/// `gss_OID_set_desc`.
#[repr(C)]
struct OidSet {
    count: usize,
    elements: *mut Oid,
}

/// `gss_key_value_element_desc`.
#[repr(C)]
struct KeyValue {
    key: *const std::ffi::c_char,
    value: *const std::ffi::c_char,
}

/// `gss_key_value_set_desc`.
#[repr(C)]
struct KeyValueSet {
    count: u32,
    elements: *mut KeyValue,
}

type Name = *mut c_void;
type Cred = *mut c_void;
type Ctx = *mut c_void;

/// The DER contents of the krb5 mechanism OID 1.2.840.113554.1.2.2 (RFC 1964).
const KRB5_MECH: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
/// GSS_KRB5_NT_PRINCIPAL_NAME, 1.2.840.113554.1.2.2.1: a krb5 principal
/// string, imported without host name canonicalization.
const KRB5_PRINCIPAL_NAME: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

const GSS_C_INITIATE: c_int = 1;
const GSS_C_ACCEPT: c_int = 2;
const GSS_C_INDEFINITE: u32 = u32::MAX;
/// GSS_C_CONTINUE_NEEDED, a supplementary status bit.
const CONTINUE_NEEDED: u32 = 1;
const ROUTINE_ERROR_MASK: u32 = 0xffff_0000;

type AcquireCredFromFn = unsafe extern "C" fn(
    *mut u32,
    Name,
    u32,
    *mut OidSet,
    c_int,
    *const KeyValueSet,
    *mut Cred,
    *mut *mut OidSet,
    *mut u32,
) -> u32;
type AcceptSecContextFn = unsafe extern "C" fn(
    *mut u32,
    *mut Ctx,
    Cred,
    *mut Buffer,
    *mut c_void,
    *mut Name,
    *mut *mut Oid,
    *mut Buffer,
    *mut u32,
    *mut u32,
    *mut Cred,
) -> u32;
type InitSecContextFn = unsafe extern "C" fn(
    *mut u32,
    Cred,
    *mut Ctx,
    Name,
    *mut Oid,
    u32,
    u32,
    *mut c_void,
    *mut Buffer,
    *mut *mut Oid,
    *mut Buffer,
    *mut u32,
    *mut u32,
) -> u32;
type ImportNameFn = unsafe extern "C" fn(*mut u32, *mut Buffer, *mut Oid, *mut Name) -> u32;
type ReleaseNameFn = unsafe extern "C" fn(*mut u32, *mut Name) -> u32;
type ReleaseBufferFn = unsafe extern "C" fn(*mut u32, *mut Buffer) -> u32;
type ReleaseCredFn = unsafe extern "C" fn(*mut u32, *mut Cred) -> u32;
type DeleteSecContextFn = unsafe extern "C" fn(*mut u32, *mut Ctx, *mut Buffer) -> u32;
type ExportLucidFn = unsafe extern "C" fn(*mut u32, *mut Ctx, u32, *mut *mut c_void) -> u32;
type FreeLucidFn = unsafe extern "C" fn(*mut u32, *mut c_void) -> u32;
type DisplayStatusFn =
    unsafe extern "C" fn(*mut u32, u32, c_int, *mut Oid, *mut u32, *mut Buffer) -> u32;

/// The loaded library and the functions used from it.
pub struct MitGss {
    acquire_cred_from: AcquireCredFromFn,
    accept_sec_context: AcceptSecContextFn,
    init_sec_context: InitSecContextFn,
    import_name: ImportNameFn,
    release_name: ReleaseNameFn,
    release_buffer: ReleaseBufferFn,
    release_cred: ReleaseCredFn,
    delete_sec_context: DeleteSecContextFn,
    export_lucid: ExportLucidFn,
    free_lucid: FreeLucidFn,
    display_status: DisplayStatusFn,
    _library: Library,
}

unsafe fn symbol<T: Copy>(library: &Library, name: &str) -> Result<T, String> {
    // SAFETY: the caller names a symbol whose C type matches `T`.
    unsafe {
        library
            .get::<T>(name.as_bytes())
            .map(|s| *s)
            .map_err(|e| format!("symbol {name} not found: {e}"))
    }
}

fn oid(bytes: &'static [u8]) -> Oid {
    Oid {
        length: bytes.len() as u32,
        elements: bytes.as_ptr() as *mut c_void,
    }
}

fn is_error(major: u32) -> bool {
    major & ROUTINE_ERROR_MASK != 0
}

/// An acquired MIT credential, released on drop.
pub struct Credential<'a> {
    mit: &'a MitGss,
    handle: Cred,
}

impl Drop for Credential<'_> {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: `handle` came from gss_acquire_cred_from and is released once.
        unsafe { (self.mit.release_cred)(&mut minor, &mut self.handle) };
    }
}

/// An imported MIT name, released on drop.
pub struct TargetName<'a> {
    mit: &'a MitGss,
    handle: Name,
}

impl Drop for TargetName<'_> {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: `handle` came from gss_import_name and is released once.
        unsafe { (self.mit.release_name)(&mut minor, &mut self.handle) };
    }
}

/// An initiator context waiting for the acceptor's AP-REP.
pub struct PendingContext<'a> {
    mit: &'a MitGss,
    handle: Ctx,
}

impl Drop for PendingContext<'_> {
    fn drop(&mut self) {
        if !self.handle.is_null() {
            let mut minor = 0;
            // SAFETY: `handle` is a live context from gss_init_sec_context.
            unsafe { (self.mit.delete_sec_context)(&mut minor, &mut self.handle, ptr::null_mut()) };
        }
    }
}

impl MitGss {
    /// Loads libgssapi_krb5.so.2. The error names the package to install.
    pub fn load() -> Result<Self, String> {
        // SAFETY: loading MIT's library runs only its ELF constructors, which
        // set up error tables and the mechanism list.
        let library = unsafe { Library::new("libgssapi_krb5.so.2") }.map_err(|e| {
            format!(
                "cannot load libgssapi_krb5.so.2: {e}; install MIT krb5's GSS-API library \
                 (Debian: libgssapi-krb5-2, pulled in by libkrb5-dev or krb5-user)"
            )
        })?;
        // SAFETY: each type alias above matches the prototype in MIT's headers.
        unsafe {
            Ok(Self {
                acquire_cred_from: symbol(&library, "gss_acquire_cred_from")?,
                accept_sec_context: symbol(&library, "gss_accept_sec_context")?,
                init_sec_context: symbol(&library, "gss_init_sec_context")?,
                import_name: symbol(&library, "gss_import_name")?,
                release_name: symbol(&library, "gss_release_name")?,
                release_buffer: symbol(&library, "gss_release_buffer")?,
                release_cred: symbol(&library, "gss_release_cred")?,
                delete_sec_context: symbol(&library, "gss_delete_sec_context")?,
                export_lucid: symbol(&library, "gss_krb5_export_lucid_sec_context")?,
                free_lucid: symbol(&library, "gss_krb5_free_lucid_sec_context")?,
                display_status: symbol(&library, "gss_display_status")?,
                _library: library,
            })
        }
    }

    /// Formats a major and minor status with MIT's own messages.
    fn status_text(&self, step: &str, major: u32, minor: u32) -> String {
        let mut text = format!("{step} failed: major 0x{major:08x}, minor {minor}");
        for (code, kind) in [(major, 1), (minor, 2)] {
            let mut message_context = 0;
            loop {
                let mut ignored = 0;
                let mut buffer = Buffer::empty();
                let mech = &mut oid(KRB5_MECH);
                // SAFETY: MIT allocates `buffer`, released below.
                let status = unsafe {
                    (self.display_status)(
                        &mut ignored,
                        code,
                        kind,
                        mech,
                        &mut message_context,
                        &mut buffer,
                    )
                };
                if is_error(status) {
                    break;
                }
                // SAFETY: on success `buffer` holds `length` bytes of text.
                let message =
                    unsafe { std::slice::from_raw_parts(buffer.value as *const u8, buffer.length) };
                text.push_str(&format!("; {}", String::from_utf8_lossy(message)));
                // SAFETY: `buffer` was allocated by gss_display_status.
                unsafe { (self.release_buffer)(&mut ignored, &mut buffer) };
                if message_context == 0 {
                    break;
                }
            }
        }
        text
    }

    /// Acquires a krb5 credential from a credential store: pairs such as
    /// `("keytab", "FILE:/path")`, `("rcache", "none:")` or
    /// `("ccache", "MEMORY:name")`, as MIT's gss_acquire_cred_from takes.
    pub fn acquire_cred(
        &self,
        accept: bool,
        store: &[(&str, &str)],
    ) -> Result<Credential<'_>, String> {
        let strings: Vec<(CString, CString)> = store
            .iter()
            .map(|(key, value)| {
                (
                    CString::new(*key).expect("store key without NUL"),
                    CString::new(*value).expect("store value without NUL"),
                )
            })
            .collect();
        let mut elements: Vec<KeyValue> = strings
            .iter()
            .map(|(key, value)| KeyValue {
                key: key.as_ptr(),
                value: value.as_ptr(),
            })
            .collect();
        let set = KeyValueSet {
            count: elements.len() as u32,
            elements: elements.as_mut_ptr(),
        };
        let mut mech = oid(KRB5_MECH);
        let mut mechs = OidSet {
            count: 1,
            elements: &mut mech,
        };
        let usage = if accept { GSS_C_ACCEPT } else { GSS_C_INITIATE };
        let (mut minor, mut handle) = (0, ptr::null_mut());
        // SAFETY: every pointer refers to a live value of the C type, and the
        // strings outlive the call.
        let major = unsafe {
            (self.acquire_cred_from)(
                &mut minor,
                ptr::null_mut(),
                GSS_C_INDEFINITE,
                &mut mechs,
                usage,
                &set,
                &mut handle,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if is_error(major) {
            return Err(self.status_text("gss_acquire_cred_from", major, minor));
        }
        Ok(Credential { mit: self, handle })
    }

    /// Imports a krb5 principal name such as `nfs/host@REALM`.
    pub fn import_principal(&self, principal: &str) -> Result<TargetName<'_>, String> {
        let mut buffer = Buffer::input(principal.as_bytes());
        let mut name_type = oid(KRB5_PRINCIPAL_NAME);
        let (mut minor, mut handle) = (0, ptr::null_mut());
        // SAFETY: the input buffer borrows `principal` for the call only.
        let major =
            unsafe { (self.import_name)(&mut minor, &mut buffer, &mut name_type, &mut handle) };
        if is_error(major) {
            return Err(self.status_text("gss_import_name", major, minor));
        }
        Ok(TargetName { mit: self, handle })
    }

    /// Exports a complete context as lucid v1, which deletes it, and frees
    /// the export, as rpc.gssd and rpc.svcgssd do before their downcall.
    /// Returns the exported structure's version field.
    fn export_and_free_lucid(&self, context: &mut Ctx) -> Result<u32, String> {
        let mut minor = 0;
        let mut exported = ptr::null_mut();
        // SAFETY: `context` is a complete context; MIT deletes it and sets
        // the handle to GSS_C_NO_CONTEXT.
        let major = unsafe { (self.export_lucid)(&mut minor, context, 1, &mut exported) };
        if is_error(major) {
            return Err(self.status_text("gss_krb5_export_lucid_sec_context", major, minor));
        }
        // SAFETY: a lucid context starts with its OM_uint32 version.
        let version = unsafe { *(exported as *const u32) };
        // SAFETY: `exported` came from the export above and is freed once.
        unsafe { (self.free_lucid)(&mut minor, exported) };
        Ok(version)
    }

    /// Accepts one InitialContextToken as rpc.svcgssd does: asks for the
    /// initiator's name and the mechanism, takes the AP-REP, exports the
    /// context as lucid v1, and releases everything. Returns the AP-REP's
    /// length.
    pub fn accept_and_export(&self, cred: &Credential<'_>, token: &[u8]) -> Result<usize, String> {
        let mut minor = 0;
        let mut context: Ctx = ptr::null_mut();
        let mut input = Buffer::input(token);
        let mut source: Name = ptr::null_mut();
        let mut mech: *mut Oid = ptr::null_mut();
        let mut output = Buffer::empty();
        let mut flags = 0;
        // SAFETY: every pointer refers to a live value of the C type; MIT
        // allocates `source`, `output` and the context, released below.
        let major = unsafe {
            (self.accept_sec_context)(
                &mut minor,
                &mut context,
                cred.handle,
                &mut input,
                ptr::null_mut(),
                &mut source,
                &mut mech,
                &mut output,
                &mut flags,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let reply_length = output.length;
        let mut ignored = 0;
        // SAFETY: both were allocated by gss_accept_sec_context (or are empty).
        unsafe {
            (self.release_buffer)(&mut ignored, &mut output);
            (self.release_name)(&mut ignored, &mut source);
        }
        if is_error(major) || major & CONTINUE_NEEDED != 0 {
            if !context.is_null() {
                // SAFETY: a partial context from the call above.
                unsafe { (self.delete_sec_context)(&mut ignored, &mut context, ptr::null_mut()) };
            }
            return Err(self.status_text("gss_accept_sec_context", major, minor));
        }
        self.export_and_free_lucid(&mut context)?;
        Ok(reply_length)
    }

    /// Starts an initiator context with mutual authentication, as rpc.gssd
    /// does, and returns it with the AP-REQ token.
    pub fn init_first<'a>(
        &'a self,
        cred: &Credential<'_>,
        target: &TargetName<'_>,
    ) -> Result<(PendingContext<'a>, Vec<u8>), String> {
        let mut pending = PendingContext {
            mit: self,
            handle: ptr::null_mut(),
        };
        let mut output = Buffer::empty();
        let major = self.init_step(cred, target, &mut pending.handle, None, &mut output)?;
        // SAFETY: on success `output` holds `length` bytes allocated by MIT.
        let token = unsafe { std::slice::from_raw_parts(output.value as *const u8, output.length) }
            .to_vec();
        let mut ignored = 0;
        // SAFETY: allocated by gss_init_sec_context.
        unsafe { (self.release_buffer)(&mut ignored, &mut output) };
        if major & CONTINUE_NEEDED == 0 {
            return Err("gss_init_sec_context completed without waiting for an AP-REP".into());
        }
        Ok((pending, token))
    }

    /// Completes an initiator context with the AP-REP and exports it as lucid v1.
    pub fn init_complete(
        &self,
        cred: &Credential<'_>,
        target: &TargetName<'_>,
        mut pending: PendingContext<'_>,
        reply: &[u8],
    ) -> Result<(), String> {
        let mut output = Buffer::empty();
        let major = self.init_step(cred, target, &mut pending.handle, Some(reply), &mut output)?;
        let mut ignored = 0;
        // SAFETY: allocated by gss_init_sec_context (or empty).
        unsafe { (self.release_buffer)(&mut ignored, &mut output) };
        if major & CONTINUE_NEEDED != 0 {
            return Err("gss_init_sec_context asked for another token after the AP-REP".into());
        }
        self.export_and_free_lucid(&mut pending.handle)?;
        Ok(())
    }

    fn init_step(
        &self,
        cred: &Credential<'_>,
        target: &TargetName<'_>,
        context: &mut Ctx,
        input: Option<&[u8]>,
        output: &mut Buffer,
    ) -> Result<u32, String> {
        /// GSS_C_MUTUAL_FLAG, the one flag rpc.gssd requests.
        const MUTUAL: u32 = 2;
        let mut minor = 0;
        let mut mech = oid(KRB5_MECH);
        let mut input = input.map(Buffer::input);
        let input_pointer = input.as_mut().map_or(ptr::null_mut(), |b| b as *mut Buffer);
        // SAFETY: every pointer refers to a live value of the C type or is
        // null where MIT allows it; MIT allocates `output`.
        let major = unsafe {
            (self.init_sec_context)(
                &mut minor,
                cred.handle,
                context,
                target.handle,
                &mut mech,
                MUTUAL,
                0,
                ptr::null_mut(),
                input_pointer,
                ptr::null_mut(),
                output,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if is_error(major) {
            return Err(self.status_text("gss_init_sec_context", major, minor));
        }
        Ok(major)
    }
}

type Krb5Context = *mut c_void;
type Krb5Ccache = *mut c_void;
type Krb5Principal = *mut c_void;
type InitContextFn = unsafe extern "C" fn(*mut Krb5Context) -> i32;
type FreeContextFn = unsafe extern "C" fn(Krb5Context);
type CcResolveFn =
    unsafe extern "C" fn(Krb5Context, *const std::ffi::c_char, *mut Krb5Ccache) -> i32;
type CcGetPrincipalFn = unsafe extern "C" fn(Krb5Context, Krb5Ccache, *mut Krb5Principal) -> i32;
type CcInitializeFn = unsafe extern "C" fn(Krb5Context, Krb5Ccache, Krb5Principal) -> i32;
type CcCopyCredsFn = unsafe extern "C" fn(Krb5Context, Krb5Ccache, Krb5Ccache) -> i32;
type CcCloseFn = unsafe extern "C" fn(Krb5Context, Krb5Ccache) -> i32;
type FreePrincipalFn = unsafe extern "C" fn(Krb5Context, Krb5Principal);

/// Copies every credential of the ccache `from` into `to` (for example a
/// FILE: cache into a MEMORY: cache) with MIT's libkrb5.so.3. A MEMORY:
/// cache lives in the process until it is destroyed, so closing our handle
/// keeps its contents for later gss_acquire_cred_from calls.
pub fn copy_ccache(from: &str, to: &str) -> Result<(), String> {
    // SAFETY: loading MIT's library runs only its ELF constructors.
    let library = unsafe { Library::new("libkrb5.so.3") }
        .map_err(|e| format!("cannot load libkrb5.so.3: {e}; install libkrb5-3"))?;
    let from = CString::new(from).map_err(|e| e.to_string())?;
    let to = CString::new(to).map_err(|e| e.to_string())?;
    let check = |step: &str, code: i32| {
        if code == 0 {
            Ok(())
        } else {
            Err(format!("{step} failed with krb5 error {code}"))
        }
    };
    // SAFETY: each symbol type matches MIT's krb5.h (1.20), every handle
    // comes from the call before it, and each is closed or freed once.
    unsafe {
        let init_context: InitContextFn = symbol(&library, "krb5_init_context")?;
        let free_context: FreeContextFn = symbol(&library, "krb5_free_context")?;
        let resolve: CcResolveFn = symbol(&library, "krb5_cc_resolve")?;
        let get_principal: CcGetPrincipalFn = symbol(&library, "krb5_cc_get_principal")?;
        let initialize: CcInitializeFn = symbol(&library, "krb5_cc_initialize")?;
        let copy_creds: CcCopyCredsFn = symbol(&library, "krb5_cc_copy_creds")?;
        let close: CcCloseFn = symbol(&library, "krb5_cc_close")?;
        let free_principal: FreePrincipalFn = symbol(&library, "krb5_free_principal")?;

        let mut context = ptr::null_mut();
        check("krb5_init_context", init_context(&mut context))?;
        let (mut source, mut target, mut principal) =
            (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        let result = (|| {
            check(
                "krb5_cc_resolve",
                resolve(context, from.as_ptr(), &mut source),
            )?;
            check(
                "krb5_cc_resolve",
                resolve(context, to.as_ptr(), &mut target),
            )?;
            check(
                "krb5_cc_get_principal",
                get_principal(context, source, &mut principal),
            )?;
            check("krb5_cc_initialize", initialize(context, target, principal))?;
            check("krb5_cc_copy_creds", copy_creds(context, source, target))
        })();
        if !principal.is_null() {
            free_principal(context, principal);
        }
        for cache in [source, target] {
            if !cache.is_null() {
                close(context, cache);
            }
        }
        free_context(context);
        result
    }
}
