//! Sprig's hash, encoding, random and crypto functions.
//!
//! Every random choice draws on the engine's seeded source (`Ctx::rng`), never the system's.
//! Keys and certificates are made as Sprig makes them with Go's crypto/x509 (same key types
//! and sizes, extensions, validity), with our own RSA arithmetic: ring only hashes and signs
//! with Ed25519.

mod aes;
mod bigint;
mod der;
pub(crate) mod enc;
mod x509;

use std::rc::Rc;

use super::{arg_int, arg_str, Ctx, Registry, Ty};
use crate::value::{Member, Object, Value};

/// The most a random-string function makes at once.
const MAX_LEN: i64 = 10_000_000;

/// The hex digest of the first argument (`sha1sum`, `sha256sum`, `sha512sum`).
fn digest_hex(alg: &'static ring::digest::Algorithm, a: &[Value]) -> Value {
    Value::string(hex(
        ring::digest::digest(alg, arg_str(a, 0).as_bytes()).as_ref()
    ))
}

/// Sprig's decoders give the error's message as their result.
fn decoded_or_error(decoded: Result<Vec<u8>, String>) -> Value {
    Value::string(match decoded {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => e,
    })
}

/// What an unsupported function (or mode) fails with.
pub fn unsupported(name: &str) -> String {
    format!("{name} is not supported by plumb's template engine")
}

pub(super) fn register(r: &mut Registry) {
    r.add("sha1sum", &[Ty::String], None, |a| {
        Ok(digest_hex(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, a))
    });
    r.add("sha256sum", &[Ty::String], None, |a| {
        Ok(digest_hex(&ring::digest::SHA256, a))
    });
    r.add("sha512sum", &[Ty::String], None, |a| {
        Ok(digest_hex(&ring::digest::SHA512, a))
    });
    r.add("adler32sum", &[Ty::String], None, |a| {
        Ok(Value::string(adler32(arg_str(a, 0).as_bytes()).to_string()))
    });
    r.add("b64enc", &[Ty::String], None, |a| {
        Ok(Value::string(enc::b64_encode(arg_str(a, 0).as_bytes())))
    });
    r.add("b64dec", &[Ty::String], None, |a| {
        Ok(decoded_or_error(enc::b64_decode(arg_str(a, 0).as_bytes())))
    });
    r.add("b32enc", &[Ty::String], None, |a| {
        Ok(Value::string(enc::b32_encode(arg_str(a, 0).as_bytes())))
    });
    r.add("b32dec", &[Ty::String], None, |a| {
        Ok(decoded_or_error(enc::b32_decode(arg_str(a, 0).as_bytes())))
    });

    r.add_ctx("randAlphaNum", &[Ty::Int], None, |c, a| {
        rand_string(c, arg_int(a, 0), |ch| ch.is_ascii_alphanumeric())
    });
    r.add_ctx("randAlpha", &[Ty::Int], None, |c, a| {
        rand_string(c, arg_int(a, 0), |ch| ch.is_ascii_alphabetic())
    });
    r.add_ctx("randNumeric", &[Ty::Int], None, |c, a| {
        rand_string(c, arg_int(a, 0), |ch| ch.is_ascii_digit())
    });
    r.add_ctx("randAscii", &[Ty::Int], None, |c, a| {
        let n = arg_int(a, 0);
        if n > MAX_LEN {
            return Err(format!("randAscii: length {n} is too large"));
        }
        let s: String = (0..n.max(0))
            .map(|_| (32 + c.rng().below(95) as u8) as char)
            .collect();
        Ok(Value::string(s))
    });
    r.add_ctx("randBytes", &[Ty::Int], None, |c, a| {
        let n = arg_int(a, 0);
        if n < 0 {
            return Err("runtime error: makeslice: len out of range".into());
        }
        if n > MAX_LEN {
            return Err(format!("randBytes: length {n} is too large"));
        }
        let mut buf = vec![0u8; n as usize];
        c.rng().fill(&mut buf);
        Ok(Value::string(enc::b64_encode(&buf)))
    });
    r.add_ctx("randInt", &[Ty::Int, Ty::Int], None, |c, a| {
        let (min, max) = (arg_int(a, 0), arg_int(a, 1));
        let n = max.wrapping_sub(min);
        if n <= 0 {
            return Err("invalid argument to Intn".into());
        }
        Ok(Value::Int(
            (c.rng().below(n as u64) as i64).wrapping_add(min),
        ))
    });
    r.add_ctx("shuffle", &[Ty::String], None, |c, a| {
        let mut chars: Vec<char> = arg_str(a, 0).chars().collect();
        for i in (1..chars.len()).rev() {
            let j = c.rng().below(i as u64 + 1) as usize;
            chars.swap(i, j);
        }
        Ok(Value::string(chars.into_iter().collect()))
    });
    r.add_ctx("uuidv4", &[], None, |c, _| {
        let mut b = [0u8; 16];
        c.rng().fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex(&b);
        Ok(Value::string(format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )))
    });

    r.add_ctx("genPrivateKey", &[Ty::String], None, |c, a| {
        match arg_str(a, 0) {
            "" | "rsa" => Ok(Value::string(x509::gen_rsa(4096, c.rng()).pem())),
            "ed25519" => Ok(Value::string(x509::gen_ed25519(c.rng())?.pem())),
            "ecdsa" => Err(unsupported("genPrivateKey \"ecdsa\"")),
            "dsa" => Err(unsupported("genPrivateKey \"dsa\"")),
            other => Ok(Value::string(format!("Unknown type {other}"))),
        }
    });
    r.add("buildCustomCert", &[Ty::String, Ty::String], None, |a| {
        build_custom_cert(arg_str(a, 0), arg_str(a, 1))
    });
    r.add_ctx("genCA", &[Ty::String, Ty::Int], None, |c, a| {
        let key = x509::gen_rsa(2048, c.rng());
        gen_ca(c, arg_str(a, 0), arg_int(a, 1), key)
    });
    r.add_ctx(
        "genCAWithKey",
        &[Ty::String, Ty::Int, Ty::String],
        None,
        |c, a| {
            let key = x509::parse_private_key_pem(arg_str(a, 2))
                .map_err(|e| format!("parsing private key: {e}"))?;
            gen_ca(c, arg_str(a, 0), arg_int(a, 1), key)
        },
    );
    r.add_ctx(
        "genSelfSignedCert",
        &[Ty::String, Ty::List, Ty::List, Ty::Int],
        None,
        |c, a| {
            let t = template(a, false)?;
            let key = x509::gen_rsa(2048, c.rng());
            finish(c, &t, &key, None)
        },
    );
    r.add_ctx(
        "genSelfSignedCertWithKey",
        &[Ty::String, Ty::List, Ty::List, Ty::Int, Ty::String],
        None,
        |c, a| {
            let key = x509::parse_private_key_pem(arg_str(a, 4))
                .map_err(|e| format!("parsing private key: {e}"))?;
            let t = template(a, false)?;
            finish(c, &t, &key, None)
        },
    );
    r.add_ctx(
        "genSignedCert",
        &[Ty::String, Ty::List, Ty::List, Ty::Int, Ty::Any],
        None,
        |c, a| {
            let ca = cert_arg(&a[4])?;
            let key = x509::gen_rsa(2048, c.rng());
            signed(c, a, &ca, key)
        },
    );
    r.add_ctx(
        "genSignedCertWithKey",
        &[Ty::String, Ty::List, Ty::List, Ty::Int, Ty::Any, Ty::String],
        None,
        |c, a| {
            let ca = cert_arg(&a[4])?;
            let key = x509::parse_private_key_pem(arg_str(a, 5))
                .map_err(|e| format!("parsing private key: {e}"))?;
            signed(c, a, &ca, key)
        },
    );

    r.add("bcrypt", &[Ty::String], None, |_| {
        Err(unsupported("bcrypt"))
    });
    r.add("htpasswd", &[Ty::String, Ty::String], None, |_| {
        Err(unsupported("htpasswd"))
    });
    r.add(
        "derivePassword",
        &[Ty::Int, Ty::String, Ty::String, Ty::String, Ty::String],
        None,
        |_| Err(unsupported("derivePassword")),
    );
    r.add_ctx("encryptAES", &[Ty::String, Ty::String], None, |c, a| {
        encrypt_aes(c, arg_str(a, 0), arg_str(a, 1))
    });
    r.add("decryptAES", &[Ty::String, Ty::String], None, |a| {
        decrypt_aes(arg_str(a, 0), arg_str(a, 1))
    });
}

/// Sprig's key: the password's bytes in 32 zero bytes, cut at 32.
fn aes_key(password: &str) -> aes::Aes256 {
    let mut key = [0u8; 32];
    for (k, b) in key.iter_mut().zip(password.bytes()) {
        *k = b;
    }
    aes::Aes256::new(&key)
}

/// AES-256-CBC with PKCS#7 padding and a random IV before the ciphertext, in base64.
fn encrypt_aes(c: &mut Ctx, password: &str, plain: &str) -> Result<Value, String> {
    if plain.is_empty() {
        return Ok(Value::str(""));
    }
    let cipher = aes_key(password);
    let mut content = plain.as_bytes().to_vec();
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut iv = [0u8; 16];
    c.rng().fill(&mut iv);
    let mut out = iv.to_vec();
    let mut prev = iv;
    for chunk in content.chunks(16) {
        let mut block = [0u8; 16];
        for i in 0..16 {
            block[i] = chunk[i] ^ prev[i];
        }
        cipher.encrypt(&mut block);
        out.extend_from_slice(&block);
        prev = block;
    }
    Ok(Value::string(enc::b64_encode(&out)))
}

/// Sprig's `decryptAES`, with the Go panics its unchecked slicing gives.
fn decrypt_aes(password: &str, crypt64: &str) -> Result<Value, String> {
    if crypt64.is_empty() {
        return Ok(Value::str(""));
    }
    let crypt = enc::b64_decode(crypt64.as_bytes())?;
    let cap = crypt64.len() / 4 * 3;
    if crypt.len() < 16 {
        return Err(format!(
            "runtime error: slice bounds out of range [:16] with capacity {cap}"
        ));
    }
    let cipher = aes_key(password);
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    let mut out = Vec::with_capacity(body.len());
    let mut prev: [u8; 16] = iv.try_into().unwrap_or([0; 16]);
    for chunk in body.chunks(16) {
        let mut block: [u8; 16] = chunk.try_into().unwrap_or([0; 16]);
        let next = block;
        cipher.decrypt(&mut block);
        for i in 0..16 {
            block[i] ^= prev[i];
        }
        out.extend_from_slice(&block);
        prev = next;
    }
    let Some(&last) = out.last() else {
        return Err("runtime error: index out of range [-1]".into());
    };
    let keep = out.len() as i64 - i64::from(last);
    if keep < 0 {
        return Err(format!(
            "runtime error: slice bounds out of range [:{keep}]"
        ));
    }
    out.truncate(keep as usize);
    Ok(Value::string(String::from_utf8_lossy(&out).into_owned()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn adler32(b: &[u8]) -> u32 {
    let (mut s1, mut s2) = (1u32, 0u32);
    for chunk in b.chunks(5552) {
        for x in chunk {
            s1 += u32::from(*x);
            s2 += s1;
        }
        s1 %= 65521;
        s2 %= 65521;
    }
    (s2 << 16) | s1
}

/// goutils' `CryptoRandom` over ' '..='z', keeping the characters `keep` accepts.
fn rand_string(c: &mut Ctx, n: i64, keep: fn(char) -> bool) -> Result<Value, String> {
    if n > MAX_LEN {
        return Err(format!("random string length {n} is too large"));
    }
    let mut out = String::new();
    while (out.len() as i64) < n {
        let ch = (b' ' + c.rng().below(91) as u8) as char;
        if keep(ch) {
            out.push(ch);
        }
    }
    Ok(Value::string(out))
}

/// Sprig's `certificate` struct: `.Cert` and `.Key`, PEM text.
pub struct Certificate {
    pub cert: String,
    pub key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> String {
        "sprig.certificate".into()
    }

    fn member(&self, name: &str) -> Option<Member> {
        match name {
            "Cert" => Some(Member::Field(Value::str(&self.cert))),
            "Key" => Some(Member::Field(Value::str(&self.key))),
            _ => None,
        }
    }

    fn print(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }

    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(vec![
            ("Cert".into(), Value::str(&self.cert)),
            ("Key".into(), Value::str(&self.key)),
        ])
    }

    fn is_pointer(&self) -> bool {
        false
    }
}

fn cert_value(cert: String, key: String) -> Value {
    Value::Object(Rc::new(Certificate { cert, key }))
}

/// A `certificate` argument's (Cert, Key).
fn cert_arg(v: &Value) -> Result<(String, String), String> {
    let field = |o: &Rc<dyn Object>, n: &str| match o.member(n) {
        Some(Member::Field(Value::String(s))) => s.to_string(),
        _ => String::new(),
    };
    match v {
        Value::Object(o) if o.type_name() == "sprig.certificate" => {
            Ok((field(o, "Cert"), field(o, "Key")))
        }
        other => Err(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            other.type_name()
        )),
    }
}

fn build_custom_cert(b64cert: &str, b64key: &str) -> Result<Value, String> {
    let cert = enc::b64_decode(b64cert.as_bytes())
        .map_err(|_| "unable to decode base64 certificate".to_string())?;
    let key = enc::b64_decode(b64key.as_bytes())
        .map_err(|_| "unable to decode base64 private key".to_string())?;
    let cert = String::from_utf8_lossy(&cert).into_owned();
    let key = String::from_utf8_lossy(&key).into_owned();
    let Some((_, der)) = enc::pem_decode(&cert) else {
        return Err("unable to decode certificate".into());
    };
    x509::parse_certificate(&der)
        .map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
    x509::parse_private_key_pem(&key).map_err(|e| format!("error parsing private key: {e}"))?;
    Ok(cert_value(cert, key))
}

/// The IPs and DNS names of a certificate's arguments (name, ips, dns, days, …).
fn template(a: &[Value], is_ca: bool) -> Result<x509::Template, String> {
    let items = |v: &Value| match v {
        Value::List(l) => l.items.to_vec(),
        _ => Vec::new(),
    };
    let mut ips = Vec::new();
    for ip in items(&a[1]) {
        let Value::String(s) = &ip else {
            return Err(format!(
                "error parsing ip: {} is not a string",
                crate::gofmt::to_string(&ip)
            ));
        };
        match s.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(v4)) => ips.push(v4.octets().to_vec()),
            Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => ips.push(v4.octets().to_vec()),
                None => ips.push(v6.octets().to_vec()),
            },
            Err(_) => return Err(format!("error parsing ip: {s}")),
        }
    }
    let mut dns = Vec::new();
    for d in items(&a[2]) {
        let Value::String(s) = &d else {
            return Err(format!(
                "error processing alternate dns name: {} is not a string",
                crate::gofmt::to_string(&d)
            ));
        };
        dns.push(s.to_string());
    }
    Ok(x509::Template {
        cn: arg_str(a, 0).to_string(),
        ips,
        dns,
        days: arg_int(a, 3),
        is_ca,
    })
}

fn finish(
    c: &mut Ctx,
    t: &x509::Template,
    key: &x509::Key,
    parent: Option<(&x509::Parent, &x509::Key)>,
) -> Result<Value, String> {
    let signer = parent.map_or(key, |p| p.1);
    let der = x509::create_certificate(t, key, parent.map(|p| p.0), signer, c.rng())
        .map_err(|e| format!("error creating certificate: {e}"))?;
    Ok(cert_value(enc::pem_encode("CERTIFICATE", &der), key.pem()))
}

fn gen_ca(c: &mut Ctx, cn: &str, days: i64, key: x509::Key) -> Result<Value, String> {
    let t = x509::Template {
        cn: cn.to_string(),
        ips: Vec::new(),
        dns: Vec::new(),
        days,
        is_ca: true,
    };
    finish(c, &t, &key, None)
}

fn signed(
    c: &mut Ctx,
    a: &[Value],
    ca: &(String, String),
    key: x509::Key,
) -> Result<Value, String> {
    let Some((_, der)) = enc::pem_decode(&ca.0) else {
        return Err("unable to decode certificate".into());
    };
    let parent = x509::parse_certificate(&der)
        .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
    let signer = x509::parse_private_key_pem(&ca.1)
        .map_err(|e| format!("error parsing private key: {e}"))?;
    let t = template(a, false)?;
    finish(c, &t, &key, Some((&parent, &signer)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature;

    /// A tiny DER reader of its own: (tag, content, whole element, rest).
    fn tlv(b: &[u8]) -> (u8, &[u8], &[u8], &[u8]) {
        let (len, head) = if b[1] < 0x80 {
            (b[1] as usize, 2)
        } else {
            let n = (b[1] & 0x7f) as usize;
            (
                b[2..2 + n]
                    .iter()
                    .fold(0usize, |a, x| (a << 8) | *x as usize),
                2 + n,
            )
        };
        (
            b[0],
            &b[head..head + len],
            &b[..head + len],
            &b[head + len..],
        )
    }

    fn items(mut b: &[u8]) -> Vec<(u8, &[u8], &[u8])> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let (t, c, raw, rest) = tlv(b);
            out.push((t, c, raw));
            b = rest;
        }
        out
    }

    struct Parsed {
        tbs: Vec<u8>,
        sig: Vec<u8>,
        spki_alg_oid: Vec<u8>,
        public: Vec<u8>,
        issuer: Vec<u8>,
        subject: Vec<u8>,
    }

    fn parse(pem: &str) -> Parsed {
        let (kind, der) = enc::pem_decode(pem).expect("pem");
        assert_eq!(kind, "CERTIFICATE");
        let (t, cert, _, rest) = tlv(&der);
        assert!(t == 0x30 && rest.is_empty());
        let parts = items(cert);
        assert_eq!(parts.len(), 3);
        let tbs = items(parts[0].1);
        assert_eq!(tbs[0].0, 0xa0);
        let spki = items(tbs[6].1);
        let alg = items(spki[0].1);
        Parsed {
            tbs: parts[0].2.to_vec(),
            sig: parts[2].1[1..].to_vec(),
            spki_alg_oid: alg[0].1.to_vec(),
            public: spki[1].1[1..].to_vec(),
            issuer: tbs[3].2.to_vec(),
            subject: tbs[5].2.to_vec(),
        }
    }

    fn verify(cert: &Parsed, by: &Parsed) {
        let alg: &dyn signature::VerificationAlgorithm = if by.spki_alg_oid == [0x2b, 0x65, 0x70] {
            &signature::ED25519
        } else {
            &signature::RSA_PKCS1_2048_8192_SHA256
        };
        signature::UnparsedPublicKey::new(alg, &by.public)
            .verify(&cert.tbs, &cert.sig)
            .expect("signature verifies");
    }

    fn call(c: &mut Ctx, name: &str, args: &[Value]) -> Value {
        let r = Registry::helm();
        match r.get(name).map(|f| f.imp) {
            Some(super::super::Imp::WithCtx(f)) => f(c, args).expect("call"),
            Some(super::super::Imp::Plain(f)) => f(args).expect("call"),
            _ => panic!("no {name}"),
        }
    }

    fn fields(v: &Value) -> (String, String) {
        cert_arg(v).expect("certificate")
    }

    #[test]
    fn certificates_verify() {
        let mut c = Ctx::new(7.into());
        let ca = call(&mut c, "genCA", &[Value::str("my-ca"), Value::Int(365)]);
        let (ca_cert, ca_key) = fields(&ca);
        assert!(ca_key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let ca_p = parse(&ca_cert);
        assert_eq!(ca_p.issuer, ca_p.subject);
        verify(&ca_p, &ca_p);

        let ips = Value::list(vec![Value::str("10.0.0.1"), Value::str("::1")]);
        let dns = Value::list(vec![Value::str("svc.ns.svc")]);
        let leaf = call(
            &mut c,
            "genSignedCert",
            &[
                Value::str("svc"),
                ips.clone(),
                dns.clone(),
                Value::Int(30),
                ca.clone(),
            ],
        );
        let leaf_p = parse(&fields(&leaf).0);
        assert_eq!(leaf_p.issuer, ca_p.subject);
        verify(&leaf_p, &ca_p);

        let ed = call(&mut c, "genPrivateKey", &[Value::str("ed25519")]);
        let ed = ed.as_str().expect("pem").to_string();
        assert!(ed.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let own = call(
            &mut c,
            "genSelfSignedCertWithKey",
            &[
                Value::str("ed"),
                ips.clone(),
                dns.clone(),
                Value::Int(1),
                Value::str(&ed),
            ],
        );
        let own_p = parse(&fields(&own).0);
        verify(&own_p, &own_p);
        let ed_ca = call(
            &mut c,
            "genCAWithKey",
            &[Value::str("ed-ca"), Value::Int(1), Value::str(&ed)],
        );
        let ed_leaf = call(
            &mut c,
            "genSignedCertWithKey",
            &[
                Value::str("x"),
                ips,
                dns,
                Value::Int(1),
                ed_ca.clone(),
                Value::str(&ca_key),
            ],
        );
        verify(&parse(&fields(&ed_leaf).0), &parse(&fields(&ed_ca).0));

        // The same seed makes the same key.
        let k1 = call(
            &mut Ctx::new(3.into()),
            "genPrivateKey",
            &[Value::str("ed25519")],
        );
        let k2 = call(
            &mut Ctx::new(3.into()),
            "genPrivateKey",
            &[Value::str("ed25519")],
        );
        assert_eq!(k1.as_str(), k2.as_str());
    }

    #[test]
    fn rsa_4096_private_key() {
        let mut c = Ctx::new(11.into());
        let pem = call(&mut c, "genPrivateKey", &[Value::str("rsa")]);
        let pem = pem.as_str().expect("pem");
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\nMIIJ"));
        match x509::parse_private_key_pem(pem).expect("parses") {
            x509::Key::Rsa(k) => {
                assert_eq!(k.n.bits(), 4096);
                assert_eq!((k.p.bits(), k.q.bits()), (2048, 2048));
            }
            _ => panic!("not rsa"),
        }
    }
}
