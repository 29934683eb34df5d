//! What goes over the wire: host names resolved without a thread per request, listed
//! objects decoded with their managedFields dropped as they are read, bodies decoded into
//! typed errors, and query strings percent-encoded.

use std::net::{IpAddr, SocketAddr};

use serde::de::DeserializeOwned;
use serde_json::Value;
use ureq::http;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use super::error::{Action, Error};

/// ureq's resolver, but an IP address is taken as it is. ureq resolves before
/// every request, pooled connection or not, and with a timeout set it does so
/// on a new thread: a thread per request, even for `https://10.43.0.1`.
#[derive(Debug, Default)]
pub(super) struct IpFirst(DefaultResolver);

impl Resolver for IpFirst {
    fn resolve(
        &self,
        uri: &http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default();
        let ip = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        match (ip.parse::<IpAddr>(), port) {
            (Ok(ip), Some(port)) => {
                let mut addrs = self.empty();
                addrs.push(SocketAddr::new(ip, port));
                Ok(addrs)
            }
            _ => self.0.resolve(uri, config, timeout),
        }
    }
}

/// A listed object as JSON, without `metadata.managedFields`: they are most
/// of a metadata-only list's bytes, and nothing plumb lists them for reads
/// them (drift names field managers from a GET of the one object). Parsing
/// them only to drop them would still hold a whole page of them at once.
pub(super) struct WithoutManagedFields(pub(super) Value);

impl<'de> serde::Deserialize<'de> for WithoutManagedFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Without(&["metadata", "managedFields"]))
            .map(WithoutManagedFields)
    }
}

/// Parses a JSON object into a [`Value`], leaving out the field at a path of keys.
pub(super) struct Without<'a>(&'a [&'a str]);

impl<'de> serde::de::DeserializeSeed<'de> for Without<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Without<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match self.0 {
                [last] if key == *last => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                [first, rest @ ..] if key == *first => {
                    let value = map.next_value_seed(Without(rest))?;
                    out.insert(key, value);
                }
                _ => {
                    out.insert(key, map.next_value()?);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

pub(super) fn decode<T: DeserializeOwned>(action: &Action, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        action: Box::new(action.clone()),
        cause: e.to_string(),
    })
}

/// Percent-encodes query pairs (RFC 3986 unreserved characters pass through).
pub fn encode_query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_need_no_lookup() {
        let resolve = |uri: &str| {
            let config = ureq::config::Config::default();
            IpFirst::default()
                .resolve(&uri.parse().unwrap(), &config, NextTimeout::default())
                .unwrap()
                .to_vec()
        };
        assert_eq!(
            resolve("https://10.43.0.1/api"),
            ["10.43.0.1:443".parse().unwrap()]
        );
        assert_eq!(
            resolve("https://[::1]:6443/api"),
            ["[::1]:6443".parse().unwrap()]
        );
        assert!(resolve("http://localhost:8080/")
            .iter()
            .all(|a: &SocketAddr| a.port() == 8080 && a.ip().is_loopback()));
    }

    #[test]
    fn listed_metadata_leaves_managed_fields_out() {
        let item: WithoutManagedFields = serde_json::from_str(
            r#"{"kind": "PartialObjectMetadata", "metadata": {"name": "a",
                "managedFields": [{"manager": "plumb", "fieldsV1": {"f:data": {}}}],
                "labels": {"managedFields": "stays"}}}"#,
        )
        .unwrap();
        assert_eq!(
            item.0,
            serde_json::json!({"kind": "PartialObjectMetadata",
                "metadata": {"name": "a", "labels": {"managedFields": "stays"}}})
        );
    }

    #[test]
    fn query_is_encoded() {
        let q = encode_query(&[
            ("labelSelector", "a=b,c!=d".into()),
            ("continue", "x/y+z".into()),
        ]);
        assert_eq!(q, "labelSelector=a%3Db%2Cc%21%3Dd&continue=x%2Fy%2Bz");
    }
}
