//! Chart archives (`.tgz`): gzip through zlib-rs, and a small tar reader that refuses
//! links, devices and paths outside the chart, as Helm's `loader.LoadArchiveFiles` does.

use super::{Error, MAX_CHART_BYTES, MAX_FILE_BYTES};

/// Inflates a gzip stream (all its members), refusing more than `limit` bytes of output.
pub fn gunzip(data: &[u8], what: &str, limit: usize) -> Result<Vec<u8>, Error> {
    let bad = |msg: &str| Error::new(what, msg);
    if !data.starts_with(&[0x1f, 0x8b, 0x08]) {
        return Err(bad("is not a gzipped archive"));
    }
    let mut out: Vec<u8> = Vec::new();
    let mut input = data;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let mut z = zlib_rs::Inflate::new(true, 31);
        loop {
            let before_in = z.total_in();
            let before_out = z.total_out();
            let status = z
                .decompress(input, &mut chunk, zlib_rs::InflateFlush::NoFlush)
                .map_err(|e| bad(&format!("is not a valid gzip stream ({e:?})")))?;
            let used = (z.total_in() - before_in) as usize;
            let made = (z.total_out() - before_out) as usize;
            input = input.get(used..).unwrap_or(&[]);
            if out.len() + made > limit {
                return Err(bad(&format!(
                    "decompresses to more than {} MiB",
                    limit >> 20
                )));
            }
            out.extend_from_slice(chunk.get(..made).unwrap_or(&[]));
            match status {
                zlib_rs::Status::StreamEnd => break,
                _ if used == 0 && made == 0 => {
                    return Err(bad("is truncated (the gzip stream ends early)"))
                }
                _ => {}
            }
        }
        if !input.starts_with(&[0x1f, 0x8b]) {
            return Ok(out);
        }
    }
}

/// One regular file of a tar archive.
pub struct Entry {
    pub name: String,
    pub data: Vec<u8>,
}

fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256.
        let mut n: u64 = 0;
        for (i, b) in field.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { *b };
            n = n.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(n);
    }
    let s: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Reads the regular files of a tar stream; `what` names the archive in errors.
pub fn untar(data: &[u8], what: &str) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut long_name: Option<String> = None;
    let mut pax_path: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let mut total: u64 = 0;
    while pos + 512 <= data.len() {
        let h = &data[pos..pos + 512];
        if h.iter().all(|b| *b == 0) {
            break;
        }
        let sum_field =
            octal(&h[148..156]).ok_or_else(|| Error::new(what, "has a corrupt tar header"))?;
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(*b)
                }
            })
            .sum();
        if sum != sum_field {
            return Err(Error::new(what, "has a corrupt tar header (bad checksum)"));
        }
        let mut name = cstr(&h[0..100]);
        if &h[257..262] == b"ustar" {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let size = match pax_size.take() {
            Some(s) => s,
            None => octal(&h[124..136])
                .ok_or_else(|| Error::new(what, &format!("has a bad size for {name}")))?,
        };
        let flag = h[156];
        pos += 512;
        let len = usize::try_from(size).map_err(|_| Error::new(what, "has an entry too large"))?;
        let padded = len
            .checked_add(511)
            .map(|n| n / 512 * 512)
            .ok_or_else(|| Error::new(what, "is corrupt"))?;
        let body = data
            .get(pos..pos.saturating_add(len))
            .ok_or_else(|| Error::new(what, &format!("is truncated in {name}")))?;
        pos = pos.saturating_add(padded);
        if let Some(n) = long_name.take() {
            name = n;
        }
        if let Some(p) = pax_path.take() {
            name = p;
        }
        match flag {
            b'0' | 0 | b'7' => {
                if len > MAX_FILE_BYTES {
                    return Err(Error::new(
                        &format!("{what}: {name}"),
                        &format!("is larger than the maximum file size {MAX_FILE_BYTES}"),
                    ));
                }
                total += size;
                if total > MAX_CHART_BYTES as u64 {
                    return Err(Error::new(
                        what,
                        &format!("is larger than {} MiB", MAX_CHART_BYTES >> 20),
                    ));
                }
                if name.ends_with('/') {
                    continue;
                }
                out.push(Entry {
                    name,
                    data: body.to_vec(),
                });
            }
            b'5' => {}
            b'L' => long_name = Some(cstr(body)),
            b'x' => {
                let (p, s) = parse_pax(body);
                pax_path = p;
                pax_size = s;
            }
            b'g' => {}
            b'1' | b'2' => {
                return Err(Error::new(
                    &format!("{what}: {name}"),
                    "is a link; charts may not contain links",
                ));
            }
            other => {
                return Err(Error::new(
                    &format!("{what}: {name}"),
                    &format!("is not a regular file (tar type {:?})", other as char),
                ));
            }
        }
    }
    Ok(out)
}

fn parse_pax(body: &[u8]) -> (Option<String>, Option<u64>) {
    let text = String::from_utf8_lossy(body);
    let (mut path, mut size) = (None, None);
    let mut rest: &str = &text;
    while !rest.is_empty() {
        let Some((len, _)) = rest.split_once(' ') else {
            break;
        };
        let Ok(n) = len.parse::<usize>() else { break };
        let Some(record) = rest.get(..n) else { break };
        rest = &rest[n..];
        let record = record
            .get(len.len() + 1..)
            .unwrap_or("")
            .trim_end_matches('\n');
        if let Some((k, v)) = record.split_once('=') {
            match k {
                "path" => path = Some(v.to_string()),
                "size" => size = v.parse().ok(),
                _ => {}
            }
        }
    }
    (path, size)
}

/// Writes a tar stream of regular files (for tests and for packing charts).
pub fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in entries {
        let mut h = [0u8; 512];
        let nb = name.as_bytes();
        let n = nb.len().min(100);
        h[..n].copy_from_slice(&nb[..n]);
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        let size = format!("{:011o}", data.len());
        h[124..135].copy_from_slice(size.as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Wraps bytes in a gzip stream of stored (uncompressed) deflate blocks.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let n = c.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&zlib_rs::crc32::crc32(0, data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}
