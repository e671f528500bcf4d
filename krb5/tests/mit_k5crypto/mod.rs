//! MIT krb5's libk5crypto, loaded at run time with libloading, for the
//! differential tests and the benchmarks. Nothing here is linked at build
//! time. The struct layouts follow MIT's `krb5.h` (1.20): `krb5_magic`,
//! `krb5_enctype`, `krb5_cksumtype` and `krb5_keyusage` are `int32_t`,
//! `krb5_kvno` and `krb5_boolean` are `unsigned int`.
#![allow(dead_code, unsafe_code)]

use std::ffi::{c_char, c_void};
use std::ptr;

use libloading::Library;

/// `krb5_data`.
#[repr(C)]
pub struct Data {
    magic: i32,
    length: u32,
    data: *mut c_char,
}

/// `krb5_keyblock`.
#[repr(C)]
pub struct Keyblock {
    magic: i32,
    enctype: i32,
    length: u32,
    contents: *mut u8,
}

/// `krb5_enc_data`.
#[repr(C)]
pub struct EncData {
    magic: i32,
    enctype: i32,
    kvno: u32,
    ciphertext: Data,
}

/// `krb5_checksum`.
#[repr(C)]
pub struct ChecksumC {
    magic: i32,
    checksum_type: i32,
    length: u32,
    contents: *mut u8,
}

type Context = *mut c_void;
type KeyHandle = *mut c_void;

type EncryptFn = unsafe extern "C" fn(
    Context,
    *const Keyblock,
    i32,
    *const Data,
    *const Data,
    *mut EncData,
) -> i32;
type DecryptFn = unsafe extern "C" fn(
    Context,
    *const Keyblock,
    i32,
    *const Data,
    *const EncData,
    *mut Data,
) -> i32;
type EncryptLengthFn = unsafe extern "C" fn(Context, i32, usize, *mut usize) -> i32;
type MakeChecksumFn =
    unsafe extern "C" fn(Context, i32, *const Keyblock, i32, *const Data, *mut ChecksumC) -> i32;
type VerifyChecksumFn = unsafe extern "C" fn(
    Context,
    *const Keyblock,
    i32,
    *const Data,
    *const ChecksumC,
    *mut u32,
) -> i32;
type StringToKeyFn =
    unsafe extern "C" fn(Context, i32, *const Data, *const Data, *const Data, *mut Keyblock) -> i32;
type PrfLengthFn = unsafe extern "C" fn(Context, i32, *mut usize) -> i32;
type PrfFn = unsafe extern "C" fn(Context, *const Keyblock, *mut Data, *mut Data) -> i32;
type CreateKeyFn = unsafe extern "C" fn(Context, *const Keyblock, *mut KeyHandle) -> i32;
type FreeKeyFn = unsafe extern "C" fn(Context, KeyHandle);
type KEncryptFn =
    unsafe extern "C" fn(Context, KeyHandle, i32, *const Data, *const Data, *mut EncData) -> i32;
type KDecryptFn =
    unsafe extern "C" fn(Context, KeyHandle, i32, *const Data, *const EncData, *mut Data) -> i32;
type KMakeChecksumFn =
    unsafe extern "C" fn(Context, i32, KeyHandle, i32, *const Data, *mut ChecksumC) -> i32;
type FreeChecksumContentsFn = unsafe extern "C" fn(Context, *mut ChecksumC);
type FreeKeyblockContentsFn = unsafe extern "C" fn(Context, *mut Keyblock);

/// The loaded libraries and the functions used from them.
pub struct Mit {
    encrypt: EncryptFn,
    decrypt: DecryptFn,
    encrypt_length: EncryptLengthFn,
    make_checksum: MakeChecksumFn,
    verify_checksum: VerifyChecksumFn,
    string_to_key: StringToKeyFn,
    prf_length: PrfLengthFn,
    prf: PrfFn,
    create_key: CreateKeyFn,
    free_key: FreeKeyFn,
    k_encrypt: KEncryptFn,
    k_decrypt: KDecryptFn,
    k_make_checksum: KMakeChecksumFn,
    free_checksum_contents: FreeChecksumContentsFn,
    free_keyblock_contents: FreeKeyblockContentsFn,
    allow_weak_pbkdf2iter: *mut u32,
    _k5crypto: Library,
    _krb5: Library,
}

/// An MIT error code (`krb5_error_code`).
pub type MitError = i32;

fn data(bytes: &[u8]) -> Data {
    Data {
        magic: 0,
        length: bytes.len() as u32,
        data: bytes.as_ptr() as *mut c_char,
    }
}

fn data_mut(bytes: &mut [u8]) -> Data {
    Data {
        magic: 0,
        length: bytes.len() as u32,
        data: bytes.as_mut_ptr() as *mut c_char,
    }
}

fn keyblock(enctype: i32, key: &[u8]) -> Keyblock {
    Keyblock {
        magic: 0,
        enctype,
        length: key.len() as u32,
        contents: key.as_ptr() as *mut u8,
    }
}

unsafe fn symbol<T: Copy>(lib: &Library, name: &str) -> Result<T, String> {
    // SAFETY: the caller names a symbol whose C type matches `T`.
    unsafe {
        lib.get::<T>(name.as_bytes())
            .map(|s| *s)
            .map_err(|e| format!("symbol {name} not found: {e}"))
    }
}

impl Mit {
    /// Loads libk5crypto.so.3 and libkrb5.so.3. The error names the
    /// packages to install.
    pub fn load() -> Result<Self, String> {
        let hint = "install MIT krb5's libraries (Debian: libkrb5-3 and libk5crypto3, pulled in by libkrb5-dev or krb5-user)";
        // SAFETY: loading MIT's libraries runs only their ELF constructors,
        // which set up error tables.
        let k5crypto = unsafe { Library::new("libk5crypto.so.3") }
            .map_err(|e| format!("cannot load libk5crypto.so.3: {e}; {hint}"))?;
        // SAFETY: as above.
        let krb5 = unsafe { Library::new("libkrb5.so.3") }
            .map_err(|e| format!("cannot load libkrb5.so.3: {e}; {hint}"))?;

        // SAFETY: each type alias above matches the prototype in MIT's krb5.h.
        unsafe {
            Ok(Self {
                encrypt: symbol(&k5crypto, "krb5_c_encrypt")?,
                decrypt: symbol(&k5crypto, "krb5_c_decrypt")?,
                encrypt_length: symbol(&k5crypto, "krb5_c_encrypt_length")?,
                make_checksum: symbol(&k5crypto, "krb5_c_make_checksum")?,
                verify_checksum: symbol(&k5crypto, "krb5_c_verify_checksum")?,
                string_to_key: symbol(&k5crypto, "krb5_c_string_to_key_with_params")?,
                prf_length: symbol(&k5crypto, "krb5_c_prf_length")?,
                prf: symbol(&k5crypto, "krb5_c_prf")?,
                create_key: symbol(&k5crypto, "krb5_k_create_key")?,
                free_key: symbol(&k5crypto, "krb5_k_free_key")?,
                k_encrypt: symbol(&k5crypto, "krb5_k_encrypt")?,
                k_decrypt: symbol(&k5crypto, "krb5_k_decrypt")?,
                k_make_checksum: symbol(&k5crypto, "krb5_k_make_checksum")?,
                free_checksum_contents: symbol(&krb5, "krb5_free_checksum_contents")?,
                free_keyblock_contents: symbol(&krb5, "krb5_free_keyblock_contents")?,
                allow_weak_pbkdf2iter: symbol(&k5crypto, "k5_allow_weak_pbkdf2iter")?,
                _k5crypto: k5crypto,
                _krb5: krb5,
            })
        }
    }

    /// Lets MIT accept PBKDF2 iteration counts below the enctype default,
    /// as MIT's own tests do.
    pub fn allow_weak_pbkdf2iter(&self, allow: bool) {
        // SAFETY: the symbol is a `krb5_boolean` (unsigned int) global in
        // libk5crypto, which stays loaded as long as `self`.
        unsafe { ptr::write_volatile(self.allow_weak_pbkdf2iter, u32::from(allow)) }
    }

    pub fn encrypt(
        &self,
        enctype: i32,
        key: &[u8],
        usage: i32,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, MitError> {
        let mut len = 0usize;
        // SAFETY: a null context is accepted by the krb5_c_* functions, and
        // every pointer refers to a live buffer of the stated length.
        let code =
            unsafe { (self.encrypt_length)(ptr::null_mut(), enctype, plaintext.len(), &mut len) };
        if code != 0 {
            return Err(code);
        }
        let mut out = vec![0u8; len];
        let kb = keyblock(enctype, key);
        let input = data(plaintext);
        let mut enc = EncData {
            magic: 0,
            enctype,
            kvno: 0,
            ciphertext: data_mut(&mut out),
        };
        // SAFETY: as above; `out` has the length MIT asked for.
        let code =
            unsafe { (self.encrypt)(ptr::null_mut(), &kb, usage, ptr::null(), &input, &mut enc) };
        if code != 0 {
            return Err(code);
        }
        out.truncate(enc.ciphertext.length as usize);
        Ok(out)
    }

    pub fn decrypt(
        &self,
        enctype: i32,
        key: &[u8],
        usage: i32,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, MitError> {
        let mut out = vec![0u8; ciphertext.len()];
        let kb = keyblock(enctype, key);
        let enc = EncData {
            magic: 0,
            enctype,
            kvno: 0,
            ciphertext: data(ciphertext),
        };
        let mut output = data_mut(&mut out);
        // SAFETY: the output buffer is as long as the ciphertext, which
        // bounds the plaintext.
        let code =
            unsafe { (self.decrypt)(ptr::null_mut(), &kb, usage, ptr::null(), &enc, &mut output) };
        if code != 0 {
            return Err(code);
        }
        let len = output.length as usize;
        out.truncate(len);
        Ok(out)
    }

    pub fn checksum(
        &self,
        cksumtype: i32,
        enctype: i32,
        key: &[u8],
        usage: i32,
        input: &[u8],
    ) -> Result<Vec<u8>, MitError> {
        let kb = keyblock(enctype, key);
        let input = data(input);
        let mut cksum = ChecksumC {
            magic: 0,
            checksum_type: 0,
            length: 0,
            contents: ptr::null_mut(),
        };
        // SAFETY: MIT allocates `cksum.contents`, freed below with MIT's
        // own function.
        unsafe {
            let code =
                (self.make_checksum)(ptr::null_mut(), cksumtype, &kb, usage, &input, &mut cksum);
            if code != 0 {
                return Err(code);
            }
            let value = std::slice::from_raw_parts(cksum.contents, cksum.length as usize).to_vec();
            (self.free_checksum_contents)(ptr::null_mut(), &mut cksum);
            Ok(value)
        }
    }

    pub fn verify_checksum(
        &self,
        cksumtype: i32,
        enctype: i32,
        key: &[u8],
        usage: i32,
        input: &[u8],
        value: &[u8],
    ) -> Result<bool, MitError> {
        let kb = keyblock(enctype, key);
        let input = data(input);
        let cksum = ChecksumC {
            magic: 0,
            checksum_type: cksumtype,
            length: value.len() as u32,
            contents: value.as_ptr() as *mut u8,
        };
        let mut valid = 0u32;
        // SAFETY: all pointers refer to live buffers of the stated lengths.
        let code = unsafe {
            (self.verify_checksum)(ptr::null_mut(), &kb, usage, &input, &cksum, &mut valid)
        };
        if code != 0 {
            return Err(code);
        }
        Ok(valid != 0)
    }

    pub fn string_to_key(
        &self,
        enctype: i32,
        password: &[u8],
        salt: &[u8],
        params: Option<&[u8]>,
    ) -> Result<Vec<u8>, MitError> {
        let password = data(password);
        let salt = data(salt);
        let params = params.map(data);
        let mut key = Keyblock {
            magic: 0,
            enctype,
            length: 0,
            contents: ptr::null_mut(),
        };
        // SAFETY: MIT allocates `key.contents`, freed below with MIT's own
        // function.
        unsafe {
            let code = (self.string_to_key)(
                ptr::null_mut(),
                enctype,
                &password,
                &salt,
                params.as_ref().map_or(ptr::null(), |p| p as *const Data),
                &mut key,
            );
            if code != 0 {
                return Err(code);
            }
            let value = std::slice::from_raw_parts(key.contents, key.length as usize).to_vec();
            (self.free_keyblock_contents)(ptr::null_mut(), &mut key);
            Ok(value)
        }
    }

    pub fn prf(&self, enctype: i32, key: &[u8], input: &[u8]) -> Result<Vec<u8>, MitError> {
        let mut len = 0usize;
        // SAFETY: a null context is accepted; `len` is a valid out pointer.
        let code = unsafe { (self.prf_length)(ptr::null_mut(), enctype, &mut len) };
        if code != 0 {
            return Err(code);
        }
        let mut out = vec![0u8; len];
        let kb = keyblock(enctype, key);
        let mut input_data = data(input);
        let mut output = data_mut(&mut out);
        // SAFETY: `out` has the PRF length MIT reported.
        let code = unsafe { (self.prf)(ptr::null_mut(), &kb, &mut input_data, &mut output) };
        if code != 0 {
            return Err(code);
        }
        Ok(out)
    }

    /// Creates an MIT `krb5_key`, which caches derived keys across calls.
    pub fn create_key(&self, enctype: i32, key: &[u8]) -> Result<MitKey<'_>, MitError> {
        let kb = keyblock(enctype, key);
        let mut handle: KeyHandle = ptr::null_mut();
        // SAFETY: MIT copies the keyblock into the new key.
        let code = unsafe { (self.create_key)(ptr::null_mut(), &kb, &mut handle) };
        if code != 0 {
            return Err(code);
        }
        Ok(MitKey {
            mit: self,
            enctype,
            handle,
        })
    }
}

/// An MIT `krb5_key`, freed on drop.
pub struct MitKey<'a> {
    mit: &'a Mit,
    enctype: i32,
    handle: KeyHandle,
}

impl Drop for MitKey<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from krb5_k_create_key and is freed once.
        unsafe { (self.mit.free_key)(ptr::null_mut(), self.handle) }
    }
}

impl MitKey<'_> {
    /// Encrypts into `out`, which must be as long as
    /// krb5_c_encrypt_length reports.
    pub fn encrypt_into(
        &self,
        usage: i32,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, MitError> {
        let input = data(plaintext);
        let mut enc = EncData {
            magic: 0,
            enctype: self.enctype,
            kvno: 0,
            ciphertext: data_mut(out),
        };
        // SAFETY: all buffers are live for the call.
        let code = unsafe {
            (self.mit.k_encrypt)(
                ptr::null_mut(),
                self.handle,
                usage,
                ptr::null(),
                &input,
                &mut enc,
            )
        };
        if code != 0 {
            return Err(code);
        }
        Ok(enc.ciphertext.length as usize)
    }

    /// Decrypts into `out`, which must be at least as long as `ciphertext`.
    pub fn decrypt_into(
        &self,
        usage: i32,
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, MitError> {
        let enc = EncData {
            magic: 0,
            enctype: self.enctype,
            kvno: 0,
            ciphertext: data(ciphertext),
        };
        let mut output = data_mut(out);
        // SAFETY: all buffers are live for the call.
        let code = unsafe {
            (self.mit.k_decrypt)(
                ptr::null_mut(),
                self.handle,
                usage,
                ptr::null(),
                &enc,
                &mut output,
            )
        };
        if code != 0 {
            return Err(code);
        }
        Ok(output.length as usize)
    }

    pub fn checksum(&self, cksumtype: i32, usage: i32, input: &[u8]) -> Result<Vec<u8>, MitError> {
        let input = data(input);
        let mut cksum = ChecksumC {
            magic: 0,
            checksum_type: 0,
            length: 0,
            contents: ptr::null_mut(),
        };
        // SAFETY: MIT allocates `cksum.contents`, freed below with MIT's
        // own function.
        unsafe {
            let code = (self.mit.k_make_checksum)(
                ptr::null_mut(),
                cksumtype,
                self.handle,
                usage,
                &input,
                &mut cksum,
            );
            if code != 0 {
                return Err(code);
            }
            let value = std::slice::from_raw_parts(cksum.contents, cksum.length as usize).to_vec();
            (self.mit.free_checksum_contents)(ptr::null_mut(), &mut cksum);
            Ok(value)
        }
    }

    /// Returns the ciphertext length of `plaintext_len` bytes.
    pub fn encrypt_length(&self, plaintext_len: usize) -> Result<usize, MitError> {
        let mut len = 0usize;
        // SAFETY: `len` is a valid out pointer.
        let code = unsafe {
            (self.mit.encrypt_length)(ptr::null_mut(), self.enctype, plaintext_len, &mut len)
        };
        if code != 0 {
            return Err(code);
        }
        Ok(len)
    }
}
