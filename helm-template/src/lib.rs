//! Go's `text/template` with Sprig's and Helm's functions, as Helm's engine runs them,
//! byte for byte: the language, its type and truth rules, its error messages, and the
//! functions charts call.
//!
//! ```
//! use helm_template::helm;
//! let input = helm::RenderInput {
//!     chart: helm::ChartMetadata::new("demo", "0.1.0", "1.0.0"),
//!     release: helm::Release::new("web", "default"),
//!     capabilities: helm::Capabilities::default(),
//!     templates: vec![("templates/cm.yaml".into(), "name: {{ .Release.Name }}\n".into())],
//!     values: helm::values_from_yaml("").unwrap(),
//!     seed: 1.into(),
//! };
//! let out = helm::render(&input).unwrap();
//! assert_eq!(out["demo/templates/cm.yaml"], "name: web\n");
//! ```

pub mod chart;
pub mod exec;
pub mod funcs;
pub mod gofmt;
pub mod helm;
pub mod parse;
pub mod value;

pub use funcs::Seed;
pub use value::Value;

/// A failed render, worded as Helm words it.
#[derive(Debug, Clone)]
pub enum Error {
    /// A template that does not parse: "parse error at (FILE:LINE): …".
    Parse(String),
    /// A template that fails while it runs: "execution error at (FILE:LINE:COL): …", or Go's
    /// own message.
    Exec(String),
    /// A values file that is not valid YAML.
    Values(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Parse(m) | Error::Exec(m) | Error::Values(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// Every function a template can call, sorted.
pub fn functions() -> Vec<&'static str> {
    funcs::Registry::helm().names()
}
