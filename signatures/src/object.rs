//! The signed bytes and the signature of a raw commit or tag object.

/// A signed object: what was signed, and the armored signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub payload: Vec<u8>,
    pub signature: String,
}

/// A commit's `gpgsig` header (continued on lines that start with a space)
/// taken out of the object: what remains is what was signed.
pub fn split_commit(raw: &[u8]) -> Option<Signed> {
    let header_end = find(raw, b"\n\n").map_or(raw.len(), |i| i + 1);
    let mut payload = Vec::with_capacity(raw.len());
    let mut signature: Option<String> = None;
    let mut in_signature = false;
    let mut pos = 0;
    while pos < header_end {
        let end = raw[pos..header_end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(header_end, |i| pos + i + 1);
        let line = &raw[pos..end];
        if in_signature && line.first() == Some(&b' ') {
            let text = String::from_utf8_lossy(&line[1..]);
            if let Some(sig) = signature.as_mut() {
                sig.push_str(&text);
            }
        } else if let Some(rest) = line.strip_prefix(b"gpgsig ") {
            // Only the first; `gpgsig-sha256` signs the SHA-256 object and is left in.
            if signature.is_some() {
                return None;
            }
            signature = Some(String::from_utf8_lossy(rest).into_owned());
            in_signature = true;
        } else {
            in_signature = false;
            payload.extend_from_slice(line);
        }
        pos = end;
    }
    payload.extend_from_slice(&raw[header_end..]);
    signature.map(|signature| Signed { payload, signature })
}

/// An annotated tag's signature: the block that trails its message.
pub fn split_tag(raw: &[u8]) -> Option<Signed> {
    const BEGINNINGS: [&[u8]; 3] = [
        b"-----BEGIN SSH SIGNATURE-----",
        b"-----BEGIN PGP SIGNATURE-----",
        b"-----BEGIN SIGNED MESSAGE-----",
    ];
    let start = BEGINNINGS.iter().filter_map(|b| rfind_line(raw, b)).max()?;
    Some(Signed {
        payload: raw[..start].to_vec(),
        signature: String::from_utf8_lossy(&raw[start..]).into_owned(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The last place `needle` starts a line.
fn rfind_line(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=haystack.len().saturating_sub(needle.len()))
        .rev()
        .find(|&i| haystack[i..].starts_with(needle) && (i == 0 || haystack[i - 1] == b'\n'))
}
