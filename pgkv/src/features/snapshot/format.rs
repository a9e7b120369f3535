//! The snapshot file format: a fixed header, then PostgreSQL's binary `COPY`
//! stream of the table's live rows.
//!
//! ```text
//! offset  size  field (integers big-endian)
//!      0     8  magic "PGKVSNAP"
//!      8     2  format version (1)
//!     10     2  length n of the table name
//!     12     8  row count
//!     20     8  snapshot time: microseconds since the Unix epoch, server clock
//!     28     8  payload length in bytes
//!     36     4  CRC-32C of the payload
//!     40     n  table name, UTF-8, `schema.table` unquoted
//!   40+n     4  CRC-32C of bytes 0 .. 40+n (the header above)
//!   44+n        payload: `COPY (key text, value bytea, expires_at timestamptz)
//!               TO STDOUT (FORMAT binary)`
//! ```
//!
//! The version is read before the header's checksum, so a file written by a
//! later format (whose header may differ) is reported as such rather than as
//! corrupted.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

pub use crate::error::SnapshotDefect;

/// The first eight bytes of every snapshot file.
pub(crate) const MAGIC: [u8; 8] = *b"PGKVSNAP";

/// The format version this build writes and reads.
pub(crate) const VERSION: u16 = 1;

/// Bytes of the header before the table name.
const FIXED: usize = 40;

/// A longer table name than this marks a damaged header (PostgreSQL names
/// are at most 63 bytes each, so `schema.table` is at most 127).
const MAX_TABLE_NAME: usize = 1024;

/// CRC-32C (Castagnoli), the checksum of both the header and the payload.
pub(crate) static CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// The header of a snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) table: String,
    pub(crate) rows: u64,
    pub(crate) taken_at_micros: i64,
    pub(crate) payload_len: u64,
    pub(crate) payload_crc: u32,
}

/// What reading a header can run into.
#[derive(Debug)]
pub(crate) enum Fault {
    Io(io::Error),
    Defect(SnapshotDefect),
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Fault {
        Fault::Io(e)
    }
}

impl From<SnapshotDefect> for Fault {
    fn from(d: SnapshotDefect) -> Fault {
        Fault::Defect(d)
    }
}

impl Header {
    /// The header's length in bytes, i.e. where the payload starts.
    pub(crate) fn len(&self) -> u64 {
        (FIXED + self.table.len() + 4) as u64
    }

    /// The header's bytes. A table name longer than `u16::MAX` bytes cannot
    /// occur (the store's names are validated identifiers).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let name = self.table.as_bytes();
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        let name = &name[..usize::from(name_len)];
        let mut out = Vec::with_capacity(FIXED + name.len() + 4);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(&self.rows.to_be_bytes());
        out.extend_from_slice(&self.taken_at_micros.to_be_bytes());
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        out.extend_from_slice(&self.payload_crc.to_be_bytes());
        out.extend_from_slice(name);
        let crc = CRC.checksum(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads and checks a header (magic, version, its own checksum); the
    /// payload is not read.
    pub(crate) async fn read(reader: &mut (impl AsyncRead + Unpin)) -> Result<Header, Fault> {
        let mut fixed = [0u8; FIXED];
        let got = read_full(reader, &mut fixed).await?;
        if got < MAGIC.len() || fixed[..MAGIC.len()] != MAGIC {
            // A file cut inside the magic bytes is not recognisable either.
            return Err(SnapshotDefect::NotASnapshot.into());
        }
        if got >= 10 {
            let version = u16::from_be_bytes([fixed[8], fixed[9]]);
            if version != VERSION {
                return Err(SnapshotDefect::UnsupportedVersion {
                    found: version,
                    supported: VERSION,
                }
                .into());
            }
        }
        let truncated = SnapshotDefect::Truncated {
            expected: 0,
            found: 0,
        };
        if got < FIXED {
            return Err(truncated.into());
        }
        let be_u64 = |at: usize| u64::from_be_bytes(fixed[at..at + 8].try_into().expect("8 bytes"));
        let name_len = usize::from(u16::from_be_bytes([fixed[10], fixed[11]]));
        if name_len > MAX_TABLE_NAME {
            return Err(SnapshotDefect::HeaderCorrupted.into());
        }
        let mut rest = vec![0u8; name_len + 4];
        if read_full(reader, &mut rest).await? < rest.len() {
            return Err(truncated.into());
        }
        let mut digest = CRC.digest();
        digest.update(&fixed);
        digest.update(&rest[..name_len]);
        let stored = u32::from_be_bytes(rest[name_len..].try_into().expect("4 bytes"));
        if digest.finalize() != stored {
            return Err(SnapshotDefect::HeaderCorrupted.into());
        }
        let table =
            String::from_utf8(rest[..name_len].to_vec()).map_err(|_| SnapshotDefect::HeaderCorrupted)?;
        Ok(Header {
            table,
            rows: be_u64(12),
            taken_at_micros: be_u64(20) as i64,
            payload_len: be_u64(28),
            payload_crc: u32::from_be_bytes(fixed[36..40].try_into().expect("4 bytes")),
        })
    }
}

/// Fills `buf` as far as the reader goes; returns the bytes read (fewer than
/// `buf.len()` only at the end of the file).
pub(crate) async fn read_full(reader: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            table: "public.kv_store".to_owned(),
            rows: 3,
            taken_at_micros: 1_700_000_000_000_000,
            payload_len: 99,
            payload_crc: 0xdead_beef,
        }
    }

    #[tokio::test]
    async fn a_header_reads_back() {
        let bytes = sample().encode();
        assert_eq!(bytes.len() as u64, sample().len());
        let read = Header::read(&mut &bytes[..]).await.expect("valid");
        assert_eq!(read, sample());
    }

    #[tokio::test]
    async fn damage_is_named() {
        let bytes = sample().encode();
        let defect = |bytes: Vec<u8>| async move {
            match Header::read(&mut &bytes[..]).await {
                Err(Fault::Defect(d)) => d,
                other => panic!("expected a defect, got {other:?}"),
            }
        };
        assert_eq!(defect(b"PGKV".to_vec()).await, SnapshotDefect::NotASnapshot);
        assert_eq!(
            defect(b"hello, world, this is not it".to_vec()).await,
            SnapshotDefect::NotASnapshot
        );
        let mut v2 = bytes.clone();
        v2[9] = 2;
        assert_eq!(
            defect(v2).await,
            SnapshotDefect::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        );
        assert!(matches!(
            defect(bytes[..30].to_vec()).await,
            SnapshotDefect::Truncated { .. }
        ));
        let mut flipped = bytes.clone();
        flipped[14] ^= 1;
        assert_eq!(defect(flipped).await, SnapshotDefect::HeaderCorrupted);
        let mut long = bytes.clone();
        long[10] = 0xff;
        assert_eq!(defect(long).await, SnapshotDefect::HeaderCorrupted);
    }
}
