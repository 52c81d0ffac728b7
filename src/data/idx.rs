//! The IDX format MNIST is distributed in: a magic number (two zero bytes, a type code, the
//! number of dimensions), the dimensions as big-endian u32, then the values.
//! Every read is checked, so a truncated or corrupt file gives an error naming the problem.

use super::DataError;

/// Type code for unsigned bytes, the only one MNIST uses.
const UBYTE: u8 = 0x08;

/// A parsed IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads one IDX array from the front of `bytes`; returns it and the bytes that follow it.
pub fn read_idx<'a>(bytes: &'a [u8], name: &str) -> Result<(IdxArray, &'a [u8]), DataError> {
    let header = take(bytes, 4, name, "magic number")?;
    if header[0] != 0 || header[1] != 0 {
        return Err(DataError::Corrupt(format!(
            "{name}: bad magic number {:02x}{:02x}{:02x}{:02x} (an IDX file starts with 00 00)",
            header[0], header[1], header[2], header[3]
        )));
    }
    if header[2] != UBYTE {
        return Err(DataError::Corrupt(format!("{name}: value type 0x{:02x}, expected unsigned bytes (0x08)", header[2])));
    }
    let ndims = header[3] as usize;
    if ndims == 0 || ndims > 4 {
        return Err(DataError::Corrupt(format!("{name}: {ndims} dimensions, expected 1 to 4")));
    }
    let dims_bytes = take(&bytes[4..], 4 * ndims, name, "dimensions")?;
    let dims: Vec<usize> = dims_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let len = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| DataError::Corrupt(format!("{name}: dimensions {dims:?} overflow")))?;
    let rest = &bytes[4 + 4 * ndims..];
    let data = take(rest, len, name, "values")?.to_vec();
    Ok((IdxArray { dims, data }, &rest[len..]))
}

fn take<'a>(bytes: &'a [u8], n: usize, name: &str, what: &str) -> Result<&'a [u8], DataError> {
    bytes.get(..n).ok_or_else(|| DataError::Truncated(format!("{name}: {what} needs {n} bytes, only {} left", bytes.len())))
}

/// Writes an IDX array of unsigned bytes (used to build the asset and test fixtures).
pub fn write_idx(dims: &[usize], data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0, UBYTE, dims.len() as u8]);
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
}
