//! Private keys and X.509 certificates as Sprig makes them with Go's crypto/x509.

use super::bigint::{gen_prime, inv_small, Big};
use super::der::{self, Reader};
use super::enc;
use crate::funcs::Rng;

const OID_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const OID_SHA256_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 11];
const OID_ED25519: &[u64] = &[1, 3, 101, 112];
const OID_EC: &[u64] = &[1, 2, 840, 10045, 2, 1];
const OID_CN: &[u64] = &[2, 5, 4, 3];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_BASIC: &[u64] = &[2, 5, 29, 19];
const OID_SKID: &[u64] = &[2, 5, 29, 14];
const OID_AKID: &[u64] = &[2, 5, 29, 35];
const OID_SAN: &[u64] = &[2, 5, 29, 17];
const OID_SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
const OID_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];

pub const E: u64 = 65537;

pub struct RsaKey {
    pub n: Big,
    pub e: Big,
    pub d: Big,
    pub p: Big,
    pub q: Big,
    pub dp: Big,
    pub dq: Big,
    pub qinv: Big,
}

pub enum Key {
    Rsa(RsaKey),
    /// The 32-byte seed and the public key.
    Ed25519([u8; 32], Vec<u8>),
}

/// A new RSA key of `bits` bits (even, a multiple of 16), e = 65537, from the seeded source.
pub fn gen_rsa(bits: usize, rng: &mut Rng) -> Key {
    loop {
        let a = gen_prime(bits / 2, E, rng);
        let b = gen_prime(bits / 2, E, rng);
        if a == b {
            continue;
        }
        let (p, q) = if a.cmp_big(&b).is_gt() {
            (a, b)
        } else {
            (b, a)
        };
        if let Some(k) = rsa_from_primes(p, q, &Big::from_u64(E)) {
            return Key::Rsa(k);
        }
    }
}

fn rsa_from_primes(p: Big, q: Big, e: &Big) -> Option<RsaKey> {
    let one = Big::from_u64(1);
    let p1 = p.sub(&one);
    let q1 = q.sub(&one);
    let e64 = E;
    let d = inv_small(e64, &p1.mul(&q1))?;
    let dp = inv_small(e64, &p1)?;
    let dq = inv_small(e64, &q1)?;
    let qinv = q.rem(&p).modpow(&p.sub(&Big::from_u64(2)), &p);
    Some(RsaKey {
        n: p.mul(&q),
        e: e.clone(),
        d,
        p,
        q,
        dp,
        dq,
        qinv,
    })
}

pub fn gen_ed25519(rng: &mut Rng) -> Result<Key, String> {
    let mut seed = [0u8; 32];
    rng.fill(&mut seed);
    ed25519_from_seed(seed)
}

fn ed25519_from_seed(seed: [u8; 32]) -> Result<Key, String> {
    use ring::signature::KeyPair;
    let pair =
        ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| e.to_string())?;
    Ok(Key::Ed25519(seed, pair.public_key().as_ref().to_vec()))
}

impl Key {
    /// The subjectPublicKey bits and the whole SubjectPublicKeyInfo.
    pub fn public(&self) -> (Vec<u8>, Vec<u8>) {
        match self {
            Key::Rsa(k) => {
                let bits = der::seq(&[&der::uint(&k.n.to_be()), &der::uint(&k.e.to_be())]);
                let alg = der::seq(&[&der::oid(OID_RSA), &der::tlv(der::NULL, &[])]);
                let spki = der::seq(&[&alg, &der::bit_string(&bits)]);
                (bits, spki)
            }
            Key::Ed25519(_, public) => {
                let alg = der::seq(&[&der::oid(OID_ED25519)]);
                let spki = der::seq(&[&alg, &der::bit_string(public)]);
                (public.clone(), spki)
            }
        }
    }

    /// The key as Sprig's `pemBlockForKey` writes it.
    pub fn pem(&self) -> String {
        match self {
            Key::Rsa(k) => {
                let parts: Vec<Vec<u8>> = [&k.n, &k.e, &k.d, &k.p, &k.q, &k.dp, &k.dq, &k.qinv]
                    .iter()
                    .map(|v| der::uint(&v.to_be()))
                    .collect();
                let mut all = vec![der::small_int(0)];
                all.extend(parts);
                let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
                enc::pem_encode("RSA PRIVATE KEY", &der::seq(&refs))
            }
            Key::Ed25519(seed, _) => {
                let alg = der::seq(&[&der::oid(OID_ED25519)]);
                let inner = der::tlv(der::OCTETS, seed);
                let body = der::seq(&[&der::small_int(0), &alg, &der::tlv(der::OCTETS, &inner)]);
                enc::pem_encode("PRIVATE KEY", &body)
            }
        }
    }

    fn signature_algorithm(&self) -> Vec<u8> {
        match self {
            Key::Rsa(_) => der::seq(&[&der::oid(OID_SHA256_RSA), &der::tlv(der::NULL, &[])]),
            Key::Ed25519(..) => der::seq(&[&der::oid(OID_ED25519)]),
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Key::Rsa(k) => Ok(rsa_sign_sha256(k, msg)),
            Key::Ed25519(seed, _) => {
                let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
                    .map_err(|e| e.to_string())?;
                Ok(pair.sign(msg).as_ref().to_vec())
            }
        }
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256, by the Chinese remainder theorem.
fn rsa_sign_sha256(k: &RsaKey, msg: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let digest = ring::digest::digest(&ring::digest::SHA256, msg);
    let len = k.n.bits().div_ceil(8);
    let t_len = PREFIX.len() + 32;
    let mut em = vec![0x00, 0x01];
    em.extend(std::iter::repeat_n(0xff, len.saturating_sub(t_len + 3)));
    em.push(0);
    em.extend_from_slice(&PREFIX);
    em.extend_from_slice(digest.as_ref());
    let m = Big::from_be(&em);
    let m1 = m.modpow(&k.dp, &k.p);
    let m2 = m.modpow(&k.dq, &k.q);
    let m2p = m2.rem(&k.p);
    let diff = if m1.cmp_big(&m2p).is_lt() {
        m1.add(&k.p).sub(&m2p)
    } else {
        m1.sub(&m2p)
    };
    let h = k.qinv.mul(&diff).rem(&k.p);
    let s = m2.add(&h.mul(&k.q));
    s.to_be_padded(len)
}

fn unsupported_key(kind: &str) -> String {
    format!("{kind} keys are not supported by plumb's template engine")
}

/// Sprig's `parsePrivateKeyPEM`, with its error messages.
pub fn parse_private_key_pem(text: &str) -> Result<Key, String> {
    let Some((kind, bytes)) = enc::pem_decode(text) else {
        return Err("no PEM data in input".into());
    };
    if kind == "PRIVATE KEY" {
        return parse_pkcs8(&bytes).map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
    }
    let Some(algo) = kind.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {kind}"));
    };
    match algo {
        "RSA" => parse_pkcs1(&bytes).map_err(|e| format!("parsing RSA private key from PEM: {e}")),
        "EC" => Err(unsupported_key("ecdsa")),
        "DSA" => Err(unsupported_key("dsa")),
        _ => Err(format!("invalid private key type {kind}")),
    }
}

fn parse_pkcs1(b: &[u8]) -> Result<Key, String> {
    let bad = || "x509: failed to parse private key".to_string();
    let mut outer = Reader::new(b);
    let body = outer.expect(der::SEQ).ok_or_else(bad)?;
    let mut r = Reader::new(body.content);
    let version = r.uint().ok_or_else(bad)?;
    if !version.iter().all(|b| *b == 0) {
        return Err("x509: unsupported private key version".into());
    }
    let mut v = Vec::new();
    for _ in 0..8 {
        v.push(Big::from_be(r.uint().ok_or_else(bad)?));
    }
    let mut it = v.into_iter();
    let mut next = || it.next().unwrap_or_else(|| Big::from_u64(0));
    let (n, e, d, p, q, dp, dq, qinv) = (
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
    );
    if n.bits() < 64 || p.bits() < 2 || q.bits() < 2 || !p.is_odd() || !q.is_odd() || p.mul(&q) != n
    {
        return Err("crypto/rsa: invalid private key".into());
    }
    if n.bits() > 16384 || e.bits() > 32 {
        return Err("crypto/rsa: invalid private key".into());
    }
    Ok(Key::Rsa(RsaKey {
        n,
        e,
        d,
        p,
        q,
        dp,
        dq,
        qinv,
    }))
}

fn parse_pkcs8(b: &[u8]) -> Result<Key, String> {
    let bad = || "x509: malformed PKCS#8 private key".to_string();
    let mut outer = Reader::new(b);
    let body = outer.expect(der::SEQ).ok_or_else(bad)?;
    let mut r = Reader::new(body.content);
    r.uint().ok_or_else(bad)?;
    let alg = r.expect(der::SEQ).ok_or_else(bad)?;
    let key = r.expect(der::OCTETS).ok_or_else(bad)?;
    let oid = Reader::new(alg.content).expect(der::OID).ok_or_else(bad)?;
    if oid.raw == der::oid(OID_RSA).as_slice() {
        parse_pkcs1(key.content)
            .map_err(|e| format!("x509: failed to parse RSA private key embedded in PKCS#8: {e}"))
    } else if oid.raw == der::oid(OID_ED25519).as_slice() {
        let seed = Reader::new(key.content)
            .expect(der::OCTETS)
            .ok_or_else(bad)?;
        let seed: [u8; 32] = seed.content.try_into().map_err(|_| {
            format!(
                "x509: invalid Ed25519 private key length: {}",
                seed.content.len()
            )
        })?;
        ed25519_from_seed(seed)
    } else if oid.raw == der::oid(OID_EC).as_slice() {
        Err(unsupported_key("ecdsa"))
    } else {
        Err("x509: PKCS#8 wrapping contained private key with unknown algorithm".into())
    }
}

/// What Sprig's templates ask of a certificate.
pub struct Template {
    pub cn: String,
    /// IP addresses, 4 bytes for IPv4.
    pub ips: Vec<Vec<u8>>,
    pub dns: Vec<String>,
    pub days: i64,
    pub is_ca: bool,
}

/// The parts of a signing certificate that a new certificate needs.
pub struct Parent {
    pub subject: Vec<u8>,
    pub skid: Option<Vec<u8>>,
    pub spki: Vec<u8>,
}

/// Reads a DER certificate far enough to sign with it (Go's `x509.ParseCertificate` errors
/// come out as "x509: malformed certificate").
pub fn parse_certificate(b: &[u8]) -> Result<Parent, String> {
    let bad = || "x509: malformed certificate".to_string();
    let mut outer = Reader::new(b);
    let cert = outer.expect(der::SEQ).ok_or_else(bad)?;
    let mut c = Reader::new(cert.content);
    let tbs = c.expect(der::SEQ).ok_or_else(bad)?;
    c.expect(der::SEQ).ok_or_else(bad)?;
    c.expect(der::BITS).ok_or_else(bad)?;
    let mut t = Reader::new(tbs.content);
    if t.peek_tag() == Some(0xa0) {
        t.next();
    }
    t.expect(der::INT).ok_or_else(bad)?;
    t.expect(der::SEQ).ok_or_else(bad)?;
    t.expect(der::SEQ).ok_or_else(bad)?;
    t.expect(der::SEQ).ok_or_else(bad)?;
    let subject = t.expect(der::SEQ).ok_or_else(bad)?;
    let spki = t.expect(der::SEQ).ok_or_else(bad)?;
    let mut skid = None;
    while let Some(e) = t.next() {
        if e.tag != 0xa3 {
            continue;
        }
        let exts = Reader::new(e.content).expect(der::SEQ).ok_or_else(bad)?;
        let mut er = Reader::new(exts.content);
        while let Some(ext) = er.next() {
            let mut x = Reader::new(ext.content);
            let id = x.expect(der::OID).ok_or_else(bad)?;
            if x.peek_tag() == Some(der::BOOL) {
                x.next();
            }
            let value = x.expect(der::OCTETS).ok_or_else(bad)?;
            if id.raw == der::oid(OID_SKID).as_slice() {
                let v = Reader::new(value.content)
                    .expect(der::OCTETS)
                    .ok_or_else(bad)?;
                skid = Some(v.content.to_vec());
            }
        }
    }
    Ok(Parent {
        subject: subject.raw.to_vec(),
        skid,
        spki: spki.raw.to_vec(),
    })
}

fn printable(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

fn name(cn: &str) -> Vec<u8> {
    if cn.is_empty() {
        return der::seq(&[]);
    }
    let tag = if cn.chars().all(printable) {
        0x13
    } else {
        0x0c
    };
    let atv = der::seq(&[&der::oid(OID_CN), &der::tlv(tag, cn.as_bytes())]);
    der::seq(&[&der::tlv(der::SET, &atv)])
}

fn extension(id: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let crit = if critical {
        der::tlv(der::BOOL, &[0xff])
    } else {
        Vec::new()
    };
    der::seq(&[&der::oid(id), &crit, &der::tlv(der::OCTETS, value)])
}

/// Days since 1970-01-01 to (year, month, day).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Go's asn1 time: UTCTime for 1950..2049, GeneralizedTime otherwise.
fn asn1_time(unix: i64) -> Result<Vec<u8>, String> {
    let (y, mo, d) = civil(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if (1950..2050).contains(&y) {
        Ok(der::tlv(
            0x17,
            format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100).as_bytes(),
        ))
    } else if (0..=9999).contains(&y) {
        Ok(der::tlv(
            0x18,
            format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes(),
        ))
    } else {
        Err("asn1: structure error: cannot represent time as GeneralizedTime".into())
    }
}

/// Go's `x509.CreateCertificate` for Sprig's templates: `subject_key` is the certified key,
/// `signer` signs; `parent` is None for a self-signed certificate.
pub fn create_certificate(
    t: &Template,
    subject_key: &Key,
    parent: Option<&Parent>,
    signer: &Key,
    rng: &mut Rng,
) -> Result<Vec<u8>, String> {
    let mut serial = [0u8; 16];
    rng.fill(&mut serial);
    let (pub_bits, spki) = subject_key.public();
    let subject = name(&t.cn);
    let issuer = parent.map_or_else(|| subject.clone(), |p| p.subject.clone());
    if let Some(p) = parent {
        if signer.public().1 != p.spki {
            return Err("x509: provided PrivateKey doesn't match parent's PublicKey".into());
        }
    }
    let akid = match parent {
        Some(p) if p.subject != subject => p.skid.clone(),
        _ => None,
    };
    let skid = t
        .is_ca
        .then(|| ring::digest::digest(&ring::digest::SHA256, &pub_bits).as_ref()[..20].to_vec());

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (not_before, not_after) = validity_window(now, t.days);
    let validity = der::seq(&[&asn1_time(not_before)?, &asn1_time(not_after)?]);

    let mut exts = Vec::new();
    let usage: &[u8] = if t.is_ca {
        &[0x02, 0xa4]
    } else {
        &[0x05, 0xa0]
    };
    exts.push(extension(OID_KEY_USAGE, true, &der::tlv(der::BITS, usage)));
    exts.push(extension(
        OID_EXT_KEY_USAGE,
        false,
        &der::seq(&[&der::oid(OID_SERVER_AUTH), &der::oid(OID_CLIENT_AUTH)]),
    ));
    let basic = if t.is_ca {
        der::seq(&[&der::tlv(der::BOOL, &[0xff])])
    } else {
        der::seq(&[])
    };
    exts.push(extension(OID_BASIC, true, &basic));
    if let Some(id) = &skid {
        exts.push(extension(OID_SKID, false, &der::tlv(der::OCTETS, id)));
    }
    if let Some(id) = &akid {
        exts.push(extension(
            OID_AKID,
            false,
            &der::seq(&[&der::tlv(0x80, id)]),
        ));
    }
    if !t.dns.is_empty() || !t.ips.is_empty() {
        let mut names = Vec::new();
        for d in &t.dns {
            if !d.is_ascii() {
                return Err(format!(
                    "x509: {} cannot be encoded as an IA5String",
                    crate::gofmt::quote(d)
                ));
            }
            names.extend(der::tlv(0x82, d.as_bytes()));
        }
        for ip in &t.ips {
            names.extend(der::tlv(0x87, ip));
        }
        exts.push(extension(
            OID_SAN,
            subject == der::seq(&[]),
            &der::tlv(der::SEQ, &names),
        ));
    }
    let ext_refs: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
    let extensions = der::tlv(0xa3, &der::seq(&ext_refs));

    let alg = signer.signature_algorithm();
    let version = der::tlv(0xa0, &der::small_int(2));
    let tbs = der::seq(&[
        &version,
        &der::uint(&serial),
        &alg,
        &issuer,
        &validity,
        &subject,
        &spki,
        &extensions,
    ]);
    let sig = signer.sign(&tbs)?;
    Ok(der::seq(&[&tbs, &alg, &der::bit_string(&sig)]))
}

/// A certificate's validity from `now` for `days`. Sprig starts it at the instant of the
/// render, so every render makes another certificate; here it starts at the last multiple
/// of half the validity (at least an hour), so that renders of the same seed give the same
/// certificate for half its life on every cycle, process and node, and a new one before
/// the old expires.
pub(crate) fn validity_window(now: i64, days: i64) -> (i64, i64) {
    let span = days.saturating_mul(86_400);
    let period = (span / 2).max(3_600);
    let start = now - now.rem_euclid(period);
    (start, start.saturating_add(span))
}

#[cfg(test)]
mod validity_tests {
    use super::validity_window;

    #[test]
    fn a_certificate_is_the_same_for_half_its_life() {
        let day = 86_400;
        let half = 365 * day / 2;
        let (a, a_end) = validity_window(6 * half + 5, 365);
        let (b, _) = validity_window(6 * half + 100 * day, 365);
        assert_eq!(a, b, "within half the validity the window does not move");
        assert_eq!(a, 6 * half);
        assert_eq!(a_end - a, 365 * day);
        let (c, _) = validity_window(a + 183 * day, 365);
        assert!(
            c > a,
            "past half its life a new window starts, before the old one ends"
        );
        let (d, d_end) = validity_window(7_200, 0);
        assert_eq!((d, d_end), (7_200, 7_200));
    }
}
