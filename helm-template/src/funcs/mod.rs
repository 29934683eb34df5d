//! The function table: Go's builtins, Sprig's and Helm's functions, each with its Go
//! signature, because Go's template engine checks and converts arguments by it (a literal
//! `2` passed to an `int` parameter is fine; a `float64` from the values is an error).

use std::collections::HashMap;

use crate::value::Value;

mod builtin;
pub mod codec;
pub(crate) mod crypto;
mod dicts;
mod lists;
pub(crate) mod math;
pub(crate) mod misc;
pub use misc::semver;
pub use misc::{WARN_END, WARN_START};
mod strings;

/// A Go parameter type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ty {
    /// `interface {}`
    Any,
    /// `reflect.Value`: like `interface {}`, but nil stays an invalid value.
    Reflect,
    String,
    Int,
    Int64,
    Float64,
    Bool,
    /// `map[string]interface {}`
    Map,
    /// `[]interface {}`
    List,
    /// `[]string`
    StringList,
}

impl Ty {
    /// Go's name of the type, as its error messages print it.
    pub fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Reflect => "reflect.Value",
            Ty::String => "string",
            Ty::Int => "int",
            Ty::Int64 => "int64",
            Ty::Float64 => "float64",
            Ty::Bool => "bool",
            Ty::Map => "map[string]interface {}",
            Ty::List => "[]interface {}",
            Ty::StringList => "[]string",
        }
    }

    /// Whether Go lets an untyped nil stand for this type.
    pub fn nilable(self) -> bool {
        matches!(
            self,
            Ty::Any | Ty::Reflect | Ty::Map | Ty::List | Ty::StringList
        )
    }
}

/// What a function's body needs beyond its arguments.
pub struct Ctx {
    rng: Rng,
}

/// What a render's random and crypto functions draw from: 256 bits, so that the values a
/// chart generates (passwords, keys) are as hard to guess as the seed is kept secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Seed(pub [u8; 32]);

impl From<u64> for Seed {
    /// A seed for tests and benchmarks, spread over 256 bits.
    fn from(n: u64) -> Seed {
        let mut key = [0u8; 32];
        let mut rng = Rng::new(n);
        rng.fill(&mut key);
        Seed(key)
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(…)")
    }
}

impl Ctx {
    pub fn new(seed: Seed) -> Ctx {
        Ctx {
            rng: Rng::from_key(seed.0),
        }
    }

    /// The seeded random source every random and crypto function draws from.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
}

/// A small deterministic generator (SplitMix64 seeding xoshiro256**): reproducible output
/// from the caller's seed, not cryptographic strength from the system.
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// A generator whose whole state is the key (an all-zero key, which xoshiro cannot
    /// leave, is mixed first).
    pub fn from_key(key: [u8; 32]) -> Rng {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&key[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        let s = [word(0), word(1), word(2), word(3)];
        if s == [0; 4] {
            return Rng::new(0);
        }
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A number in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

pub type PlainFn = fn(&[Value]) -> Result<Value, String>;
pub type CtxFn = fn(&mut Ctx, &[Value]) -> Result<Value, String>;

/// How a function runs.
#[derive(Clone, Copy)]
pub enum Imp {
    Plain(PlainFn),
    WithCtx(CtxFn),
    /// Go's `and` and `or`, which short-circuit in the evaluator.
    And,
    Or,
    /// Go's `call`.
    Call,
    /// Helm's `include` and `tpl`, which run templates.
    Include,
    Tpl,
}

#[derive(Clone, Copy)]
pub struct Func {
    pub params: &'static [Ty],
    pub variadic: Option<Ty>,
    pub imp: Imp,
}

/// Every function a template can call, by name.
pub struct Registry {
    funcs: HashMap<&'static str, Func>,
}

impl Registry {
    /// Go's builtins with Sprig's and Helm's functions, as Helm's engine installs them.
    pub fn helm() -> Registry {
        let mut r = Registry {
            funcs: HashMap::new(),
        };
        builtin::register(&mut r);
        strings::register(&mut r);
        lists::register(&mut r);
        dicts::register(&mut r);
        math::register(&mut r);
        crypto::register(&mut r);
        misc::register(&mut r);
        codec::register(&mut r);
        r.special("include", &[Ty::String, Ty::Any], None, Imp::Include);
        r.special("tpl", &[Ty::String, Ty::Any], None, Imp::Tpl);
        r
    }

    /// Adds a function whose result depends only on its arguments.
    pub fn add(
        &mut self,
        name: &'static str,
        params: &'static [Ty],
        variadic: Option<Ty>,
        f: PlainFn,
    ) {
        self.funcs.insert(
            name,
            Func {
                params,
                variadic,
                imp: Imp::Plain(f),
            },
        );
    }

    /// Adds a function that draws on the seeded random source.
    pub fn add_ctx(
        &mut self,
        name: &'static str,
        params: &'static [Ty],
        variadic: Option<Ty>,
        f: CtxFn,
    ) {
        self.funcs.insert(
            name,
            Func {
                params,
                variadic,
                imp: Imp::WithCtx(f),
            },
        );
    }

    pub(crate) fn special(
        &mut self,
        name: &'static str,
        params: &'static [Ty],
        variadic: Option<Ty>,
        imp: Imp,
    ) {
        self.funcs.insert(
            name,
            Func {
                params,
                variadic,
                imp,
            },
        );
    }

    pub fn get(&self, name: &str) -> Option<&Func> {
        self.funcs.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.funcs.contains_key(name)
    }

    /// Every function's name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.funcs.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

// Helpers the function families share.

/// An argument as a string, for functions whose Go parameter is `string`.
pub fn arg_str(args: &[Value], i: usize) -> &str {
    args.get(i).and_then(Value::as_str).unwrap_or("")
}

/// An `int` argument.
pub fn arg_int(args: &[Value], i: usize) -> i64 {
    match args.get(i) {
        Some(Value::Int(n)) | Some(Value::Int64(n)) => *n,
        _ => 0,
    }
}
