//! The archive's outer layer: a short header, then the archive either as it is or
//! sealed with a passphrase.
//!
//! Sealed: the key comes from the passphrase through argon2id (its costs and salt are in
//! the header, so later versions can raise them and still read old archives), and the
//! stream is cut into chunks of 64 KiB, each sealed with ChaCha20-Poly1305. A chunk's
//! nonce is a random prefix of 7 bytes, the chunk's number (4 bytes) and a flag byte
//! that is 1 only on the last chunk (the STREAM construction): a chunk moved, dropped or
//! repeated fails, and so does an archive cut short, even at a chunk boundary, because
//! its last chunk then is not sealed as the last. The header is every chunk's
//! associated data, so a changed cost, salt or prefix fails too.
//!
//! A wrong passphrase is told apart from a damaged archive by a check value in the
//! header: a second value derived from the same argon2id output, which says whether the
//! passphrase is right without decrypting anything (it tells an attacker nothing a
//! trial decryption of the first chunk would not).

use super::BackupError;
use blake2::digest::{KeyInit, Mac};
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, Key, Nonce, Tag};
use std::io::{self, Read, Write};

/// The first bytes of every archive.
pub const MAGIC: &[u8; 8] = b"DPBACKUP";
const VERSION: u8 = 1;
const PLAIN: u8 = 0;
const SEALED: u8 = 1;

/// Plain bytes per sealed chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

/// argon2id's costs for a new archive: 64 MiB, 3 passes, one lane (about a second on a
/// small machine — once per backup or restore, so no burden, and dear to a guesser).
/// (The unit tests derive dozens of keys: they use a small cost.)
const M_COST_KIB: u32 = if cfg!(test) { 1024 } else { 64 * 1024 };
const T_COST: u32 = 3;
const P_COST: u32 = 1;
/// The most a header may ask of a restore: an archive is no way to make the restoring
/// machine allocate gigabytes.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 8;

/// The costs and salts of a sealed archive, as in its header.
#[derive(Clone, Debug)]
struct Sealing {
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: [u8; 16],
    prefix: [u8; 7],
    check: [u8; 32],
}

/// The cipher's key and the check value, from the passphrase.
fn derive(passphrase: &str, m: u32, t: u32, p: u32, salt: &[u8; 16]) -> Result<([u8; 32], [u8; 32]), BackupError> {
    let params = argon2::Params::new(m, t, p, Some(32)).map_err(|e| BackupError::Damaged(format!("key costs: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut master = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut master)
        .map_err(|e| BackupError::Damaged(format!("key derivation: {e}")))?;
    let part = |label: &[u8]| {
        let mut mac = <blake2::Blake2bMac<blake2::digest::consts::U32> as KeyInit>::new_from_slice(&master)
            .expect("a 32-byte key fits");
        mac.update(label);
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    };
    Ok((part(b"doorplate-backup-key"), part(b"doorplate-backup-check")))
}

fn header_bytes(s: Option<&Sealing>) -> Vec<u8> {
    let mut h = Vec::with_capacity(80);
    h.extend_from_slice(MAGIC);
    h.push(VERSION);
    match s {
        None => h.push(PLAIN),
        Some(s) => {
            h.push(SEALED);
            h.extend_from_slice(&s.m_cost.to_be_bytes());
            h.extend_from_slice(&s.t_cost.to_be_bytes());
            h.extend_from_slice(&s.p_cost.to_be_bytes());
            h.extend_from_slice(&s.salt);
            h.extend_from_slice(&s.prefix);
            h.extend_from_slice(&s.check);
        }
    }
    h
}

fn nonce(prefix: &[u8; 7], counter: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::from(n)
}

/// Where the archive goes: as it is, or sealed chunk by chunk.
pub enum Sink<W: Write> {
    Plain(W),
    Sealed(Box<SealWriter<W>>),
}

impl<W: Write> Sink<W> {
    /// Writes the header and returns the sink the archive is written into.
    pub fn start(mut out: W, passphrase: Option<&str>) -> Result<Sink<W>, BackupError> {
        match passphrase {
            None => {
                out.write_all(&header_bytes(None))?;
                Ok(Sink::Plain(out))
            }
            Some(p) => {
                let salt: [u8; 16] = crate::crypto::random_bytes();
                let prefix: [u8; 7] = crate::crypto::random_bytes();
                let (key, check) = derive(p, M_COST_KIB, T_COST, P_COST, &salt)?;
                let sealing = Sealing {
                    m_cost: M_COST_KIB,
                    t_cost: T_COST,
                    p_cost: P_COST,
                    salt,
                    prefix,
                    check,
                };
                let aad = header_bytes(Some(&sealing));
                out.write_all(&aad)?;
                Ok(Sink::Sealed(Box::new(SealWriter {
                    out,
                    cipher: ChaCha20Poly1305::new(&Key::from(key)),
                    prefix,
                    aad,
                    counter: 0,
                    buf: Vec::with_capacity(CHUNK + TAG + 1),
                })))
            }
        }
    }

    /// Seals the last chunk (when sealing) and gives back the file.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Sink::Plain(w) => Ok(w),
            Sink::Sealed(s) => s.finish(),
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Sealed(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Sealed(s) => s.out.flush(),
        }
    }
}

/// Seals what is written to it in chunks. A full chunk is sealed only once more bytes
/// follow it, so the last chunk — full, short or empty — is always sealed as the last.
pub struct SealWriter<W: Write> {
    out: W,
    cipher: ChaCha20Poly1305,
    prefix: [u8; 7],
    aad: Vec<u8>,
    counter: u32,
    buf: Vec<u8>,
}

impl<W: Write> SealWriter<W> {
    fn seal(&mut self, len: usize, last: bool) -> io::Result<()> {
        let n = nonce(&self.prefix, self.counter, last);
        let tag = self
            .cipher
            .encrypt_inout_detached(&n, &self.aad, (&mut self.buf[..len]).into())
            .map_err(|_| io::Error::other("sealing a chunk failed"))?;
        self.out.write_all(&self.buf[..len])?;
        self.out.write_all(tag.as_slice())?;
        self.buf.drain(..len);
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| io::Error::other("the archive is too large to seal"))?;
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        let len = self.buf.len();
        self.seal(len, true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while self.buf.len() > CHUNK {
            self.seal(CHUNK, false)?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads an archive's header and returns the reader of what it holds, opened with the
/// passphrase if it is sealed.
/// Whether the archive at `path` is sealed with a passphrase (from its header alone).
pub fn is_sealed(path: &std::path::Path) -> io::Result<bool> {
    let mut head = [0u8; 10];
    std::fs::File::open(path)?.read_exact(&mut head)?;
    Ok(&head[..8] == MAGIC && head[9] == SEALED)
}

pub fn open<R: Read>(mut input: R, passphrase: Option<&str>) -> Result<Source<R>, BackupError> {
    let mut head = [0u8; 10];
    read_exact_or_damaged(&mut input, &mut head, "its header")?;
    if &head[..8] != MAGIC {
        return Err(BackupError::Damaged("this is not a Doorplate backup".into()));
    }
    if head[8] != VERSION {
        return Err(BackupError::Damaged(format!(
            "archive version {} (this program reads version {VERSION})",
            head[8]
        )));
    }
    match head[9] {
        PLAIN => Ok(Source::Plain(input)),
        SEALED => {
            let mut rest = [0u8; 12 + 16 + 7 + 32];
            read_exact_or_damaged(&mut input, &mut rest, "its header")?;
            let u32_at = |i: usize| u32::from_be_bytes(rest[i..i + 4].try_into().expect("4 bytes"));
            let mut s = Sealing {
                m_cost: u32_at(0),
                t_cost: u32_at(4),
                p_cost: u32_at(8),
                salt: [0; 16],
                prefix: [0; 7],
                check: [0; 32],
            };
            s.salt.copy_from_slice(&rest[12..28]);
            s.prefix.copy_from_slice(&rest[28..35]);
            s.check.copy_from_slice(&rest[35..67]);
            if s.m_cost > MAX_M_COST_KIB || s.t_cost > MAX_T_COST || s.p_cost > MAX_P_COST {
                return Err(BackupError::Damaged("its header asks for impossible key costs".into()));
            }
            let Some(passphrase) = passphrase else {
                return Err(BackupError::PassphraseNeeded);
            };
            let (key, check) = derive(passphrase, s.m_cost, s.t_cost, s.p_cost, &s.salt)?;
            if !crate::crypto::same(&check, &s.check) {
                return Err(BackupError::WrongPassphrase);
            }
            Ok(Source::Sealed(Box::new(OpenReader {
                input,
                cipher: ChaCha20Poly1305::new(&Key::from(key)),
                aad: header_bytes(Some(&s)),
                prefix: s.prefix,
                counter: 0,
                pending: Vec::with_capacity(CHUNK + TAG + 1),
                plain: Vec::new(),
                pos: 0,
                done: false,
            })))
        }
        other => Err(BackupError::Damaged(format!("unknown archive mode {other}"))),
    }
}

fn read_exact_or_damaged<R: Read>(r: &mut R, buf: &mut [u8], what: &str) -> Result<(), BackupError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => BackupError::Damaged(format!("the archive ends inside {what}")),
        _ => BackupError::Io(e),
    })
}

/// What an archive holds, as it is or opened.
pub enum Source<R: Read> {
    Plain(R),
    Sealed(Box<OpenReader<R>>),
}

impl<R: Read> Source<R> {
    pub fn sealed(&self) -> bool {
        matches!(self, Source::Sealed(_))
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Sealed(r) => r.read(buf),
        }
    }
}

/// Opens sealed chunks one after another; any that fails — changed, moved, missing, or
/// the stream cut short — is an `InvalidData` error.
pub struct OpenReader<R: Read> {
    input: R,
    cipher: ChaCha20Poly1305,
    aad: Vec<u8>,
    prefix: [u8; 7],
    counter: u32,
    /// Sealed bytes read ahead: one chunk and one byte more tell whether it is the last.
    pending: Vec<u8>,
    plain: Vec<u8>,
    pos: usize,
    done: bool,
}

/// How a damaged sealed stream is reported through `io::Read`.
pub fn damaged(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

impl<R: Read> OpenReader<R> {
    fn next_chunk(&mut self) -> io::Result<()> {
        let sealed_len = CHUNK + TAG;
        while self.pending.len() < sealed_len + 1 {
            let have = self.pending.len();
            self.pending.resize(sealed_len + 1, 0);
            let n = match self.input.read(&mut self.pending[have..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    self.pending.truncate(have);
                    return Err(e);
                }
            };
            self.pending.truncate(have + n);
            if n == 0 {
                break;
            }
        }
        let last = self.pending.len() <= sealed_len;
        let len = self.pending.len().min(sealed_len);
        if len < TAG {
            return Err(damaged("the archive is cut short"));
        }
        let mut chunk: Vec<u8> = self.pending.drain(..len).collect();
        let body = len - TAG;
        let tag = Tag::try_from(&chunk[body..]).map_err(|_| damaged("a chunk's tag"))?;
        let n = nonce(&self.prefix, self.counter, last);
        self.cipher
            .decrypt_inout_detached(&n, &self.aad, (&mut chunk[..body]).into(), &tag)
            .map_err(|_| {
                if last {
                    damaged("the archive is cut short or changed")
                } else {
                    damaged("the archive was changed")
                }
            })?;
        chunk.truncate(body);
        self.plain = chunk;
        self.pos = 0;
        self.done = last;
        self.counter = self.counter.checked_add(1).ok_or_else(|| damaged("too many chunks"))?;
        Ok(())
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = buf.len().min(self.plain.len() - self.pos);
        buf[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(data: &[u8], pass: Option<&str>) -> Vec<u8> {
        let mut sink = Sink::start(Vec::new(), pass).unwrap();
        // In uneven pieces, as the archive writer does.
        for piece in data.chunks(10_000) {
            sink.write_all(piece).unwrap();
        }
        sink.finish().unwrap()
    }

    fn unseal(bytes: &[u8], pass: Option<&str>) -> Result<Vec<u8>, String> {
        let mut src = open(bytes, pass).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        src.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn sealed_streams_open_whole_and_fail_cut_changed_or_with_the_wrong_passphrase() {
        for len in [0, 5, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 77] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let sealed = seal(&data, Some("correct horse"));
            assert_eq!(unseal(&sealed, Some("correct horse")).unwrap(), data, "len {len}");
            assert!(matches!(
                open(&sealed[..], Some("wrong")),
                Err(BackupError::WrongPassphrase)
            ));
            assert!(matches!(open(&sealed[..], None), Err(BackupError::PassphraseNeeded)));
            // Cut at every chunk boundary and inside the last chunk.
            let header = header_bytes(None).len() + 12 + 16 + 7 + 32;
            let mut cuts = vec![sealed.len() - 1, header];
            let mut at = header + CHUNK + TAG;
            while at < sealed.len() {
                cuts.push(at);
                at += CHUNK + TAG;
            }
            for cut in cuts {
                assert!(
                    unseal(&sealed[..cut], Some("correct horse")).is_err(),
                    "len {len} cut at {cut}"
                );
            }
            let mut changed = sealed.clone();
            let i = sealed.len() - 3;
            changed[i] ^= 1;
            assert!(unseal(&changed, Some("correct horse")).is_err());
        }
    }

    #[test]
    fn a_plain_stream_is_read_as_it_is() {
        let sealed = seal(b"hello", None);
        assert_eq!(unseal(&sealed, None).unwrap(), b"hello");
        assert_eq!(unseal(&sealed, Some("unused")).unwrap(), b"hello");
        assert!(
            unseal(b"NOTABACKUP", None)
                .unwrap_err()
                .contains("not a Doorplate backup")
        );
    }
}
