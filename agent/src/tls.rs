//! TLS helpers shared by the Kubernetes and Git clients: PEM bundles in,
//! failures out in words that say what to fix.

use ureq::tls::Certificate;

/// The certificates of a PEM bundle (other items are skipped).
pub fn parse_certs(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e.to_string())),
        })
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err("no certificate found".into());
    }
    Ok(certs)
}

/// A TLS failure in words, with the likely fix; `ca` names the trusted CA.
pub fn describe(err: &rustls::Error, ca: &str) -> String {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            format!("the server's certificate is not signed by {ca} (unknown issuer)")
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => format!(
            "the server's certificate is not valid yet: the system clock looks wrong (it says {}); a Raspberry Pi has no hardware clock, so wait for time sync",
            crate::clock::now()
        ),
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => format!(
            "the server's certificate has expired (or the system clock is wrong: it says {})",
            crate::clock::now()
        ),
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the server's certificate does not name this server's host".into()
        }
        rustls::Error::AlertReceived(alert) => format!(
            "the server refused the handshake ({alert:?}): it may require a client certificate, or reject the one given"
        ),
        other => other.to_string(),
    }
}

/// Finds a rustls error inside a ureq error, wherever ureq put it.
pub fn rustls_error(err: &ureq::Error) -> Option<&rustls::Error> {
    match err {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(e) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    }
}
