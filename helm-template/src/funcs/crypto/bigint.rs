//! Unsigned big integers, just enough for RSA key generation and signing: Montgomery
//! modular exponentiation, Miller-Rabin, and inverses of a small exponent.

use std::cmp::Ordering;

use crate::funcs::Rng;

/// An unsigned integer, 64-bit limbs, least significant first, no high zero limbs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Big(Vec<u64>);

impl Big {
    fn norm(mut v: Vec<u64>) -> Big {
        while v.last() == Some(&0) {
            v.pop();
        }
        Big(v)
    }

    pub fn from_u64(v: u64) -> Big {
        Big::norm(vec![v])
    }

    pub fn from_be(bytes: &[u8]) -> Big {
        let mut limbs = Vec::with_capacity(bytes.len() / 8 + 1);
        for chunk in bytes.rchunks(8) {
            let mut v = 0u64;
            for b in chunk {
                v = (v << 8) | u64::from(*b);
            }
            limbs.push(v);
        }
        Big::norm(limbs)
    }

    /// Big-endian bytes, minimal (empty for zero).
    pub fn to_be(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 8);
        for limb in self.0.iter().rev() {
            out.extend_from_slice(&limb.to_be_bytes());
        }
        let first = out.iter().position(|b| *b != 0).unwrap_or(out.len());
        out.split_off(first)
    }

    /// Big-endian bytes left-padded to `len`.
    pub fn to_be_padded(&self, len: usize) -> Vec<u8> {
        let b = self.to_be();
        let mut out = vec![0u8; len.saturating_sub(b.len())];
        out.extend_from_slice(&b);
        out
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    pub fn bits(&self) -> usize {
        match self.0.last() {
            None => 0,
            Some(top) => self.0.len() * 64 - top.leading_zeros() as usize,
        }
    }

    fn bit(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|l| (l >> (i % 64)) & 1 == 1)
    }

    pub fn is_odd(&self) -> bool {
        self.bit(0)
    }

    pub fn add(&self, o: &Big) -> Big {
        let n = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = o.0.get(i).copied().unwrap_or(0);
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry);
            out.push(s2);
            carry = u64::from(c1) + u64::from(c2);
        }
        out.push(carry);
        Big::norm(out)
    }

    /// self - o; self must not be smaller.
    pub fn sub(&self, o: &Big) -> Big {
        let mut out = self.0.clone();
        sub_in_place(&mut out, &o.0);
        Big::norm(out)
    }

    pub fn mul(&self, o: &Big) -> Big {
        if self.is_zero() || o.is_zero() {
            return Big(Vec::new());
        }
        let mut out = vec![0u64; self.0.len() + o.0.len()];
        for (i, a) in self.0.iter().enumerate() {
            let mut carry = 0u128;
            for (j, b) in o.0.iter().enumerate() {
                let t = u128::from(*a) * u128::from(*b) + u128::from(out[i + j]) + carry;
                out[i + j] = t as u64;
                carry = t >> 64;
            }
            out[i + o.0.len()] = carry as u64;
        }
        Big::norm(out)
    }

    pub fn rem_u64(&self, m: u64) -> u64 {
        let mut r = 0u128;
        for limb in self.0.iter().rev() {
            r = ((r << 64) | u128::from(*limb)) % u128::from(m);
        }
        r as u64
    }

    /// Quotient and remainder by a small number.
    pub fn div_u64(&self, m: u64) -> (Big, u64) {
        let mut q = vec![0u64; self.0.len()];
        let mut r = 0u128;
        for i in (0..self.0.len()).rev() {
            let cur = (r << 64) | u128::from(self.0[i]);
            q[i] = (cur / u128::from(m)) as u64;
            r = cur % u128::from(m);
        }
        (Big::norm(q), r as u64)
    }

    /// self mod m (m non-zero), by shift-and-subtract.
    pub fn rem(&self, m: &Big) -> Big {
        if self.cmp_big(m) == Ordering::Less {
            return self.clone();
        }
        let mut r: Vec<u64> = vec![0; m.0.len() + 1];
        for i in (0..self.bits()).rev() {
            shl1(&mut r, self.bit(i));
            if cmp_limbs(&r, &m.0) != Ordering::Less {
                sub_in_place(&mut r, &m.0);
            }
        }
        Big::norm(r)
    }

    pub fn cmp_big(&self, o: &Big) -> Ordering {
        cmp_limbs(&self.0, &o.0)
    }

    /// self^e mod m, for an odd m > 1.
    pub fn modpow(&self, e: &Big, m: &Big) -> Big {
        let mont = Mont::new(m);
        let base = mont.to_mont(&self.rem(m));
        Big::norm(mont.out_of_mont(&mont.pow(&base, e)))
    }
}

fn cmp_limbs(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    for i in (0..n).rev() {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

/// a -= b (a >= b; a at least as long as b's significant limbs).
fn sub_in_place(a: &mut [u64], b: &[u64]) {
    let mut borrow = 0u64;
    for (i, x) in a.iter_mut().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(borrow);
        *x = d2;
        borrow = u64::from(b1) + u64::from(b2);
    }
}

fn shl1(a: &mut [u64], low: bool) {
    let mut carry = u64::from(low);
    for limb in a.iter_mut() {
        let next = *limb >> 63;
        *limb = (*limb << 1) | carry;
        carry = next;
    }
}

/// Montgomery arithmetic modulo an odd number.
pub struct Mont {
    n: Vec<u64>,
    n0: u64,
    r2: Vec<u64>,
}

impl Mont {
    pub fn new(m: &Big) -> Mont {
        let n = m.0.clone();
        let k = n.len();
        let mut inv = 1u64;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n[0].wrapping_mul(inv)));
        }
        // R^2 mod n by doubling 1 2*64*k times.
        let mut x = vec![0u64; k + 1];
        x[0] = 1;
        for _ in 0..(2 * 64 * k) {
            shl1(&mut x, false);
            if cmp_limbs(&x, &n) != Ordering::Less {
                sub_in_place(&mut x, &n);
            }
        }
        x.truncate(k);
        Mont {
            n,
            n0: inv.wrapping_neg(),
            r2: x,
        }
    }

    fn k(&self) -> usize {
        self.n.len()
    }

    /// a·b·R⁻¹ mod n, for a, b < n given as k limbs. Written with wrapping operations
    /// (which cannot overflow here) so that debug builds stay fast.
    pub fn mul(&self, a: &[u64], b: &[u64]) -> Vec<u64> {
        #[inline(always)]
        fn mac(t: u64, x: u64, y: u64, c: u64) -> (u64, u64) {
            let s = (x as u128)
                .wrapping_mul(y as u128)
                .wrapping_add(t as u128)
                .wrapping_add(c as u128);
            (s as u64, (s >> 64) as u64)
        }
        let k = self.k();
        let n = &self.n[..k];
        let a = &a[..k];
        let mut t = vec![0u64; k + 2];
        for &bi in b.iter().take(k) {
            let mut c = 0u64;
            for j in 0..k {
                let (lo, hi) = mac(t[j], a[j], bi, c);
                t[j] = lo;
                c = hi;
            }
            let (s, carry) = t[k].overflowing_add(c);
            t[k] = s;
            t[k + 1] = u64::from(carry);
            let m = t[0].wrapping_mul(self.n0);
            let (_, mut c) = mac(t[0], m, n[0], 0);
            for j in 1..k {
                let (lo, hi) = mac(t[j], m, n[j], c);
                t[j - 1] = lo;
                c = hi;
            }
            let (s, carry) = t[k].overflowing_add(c);
            t[k - 1] = s;
            t[k] = t[k + 1].wrapping_add(u64::from(carry));
            t[k + 1] = 0;
        }
        t.truncate(k + 1);
        if cmp_limbs(&t, n) != Ordering::Less {
            sub_in_place(&mut t, n);
        }
        t.truncate(k);
        t
    }

    fn pad(&self, x: &Big) -> Vec<u64> {
        let mut v = x.0.clone();
        v.resize(self.k(), 0);
        v
    }

    /// x·R mod n (x < n).
    pub fn to_mont(&self, x: &Big) -> Vec<u64> {
        self.mul(&self.pad(x), &self.r2)
    }

    pub fn out_of_mont(&self, x: &[u64]) -> Vec<u64> {
        let mut one = vec![0u64; self.k()];
        one[0] = 1;
        self.mul(x, &one)
    }

    /// The Montgomery form of 1.
    pub fn one(&self) -> Vec<u64> {
        self.to_mont(&Big::from_u64(1))
    }

    /// base^e with base in Montgomery form; the result is in Montgomery form.
    pub fn pow(&self, base: &[u64], e: &Big) -> Vec<u64> {
        let mut table = Vec::with_capacity(16);
        table.push(self.one());
        for i in 1..16 {
            let next = self.mul(&table[i - 1], base);
            table.push(next);
        }
        let mut acc = self.one();
        let bits = e.bits();
        let windows = bits.div_ceil(4);
        for w in (0..windows).rev() {
            for _ in 0..4 {
                acc = self.mul(&acc, &acc);
            }
            let mut idx = 0usize;
            for b in (0..4).rev() {
                idx = (idx << 1) | usize::from(e.bit(w * 4 + b));
            }
            if idx != 0 {
                acc = self.mul(&acc, &table[idx]);
            }
        }
        acc
    }
}

fn small_primes() -> Vec<u64> {
    const LIMIT: usize = 1 << 20;
    let mut sieve = vec![true; LIMIT];
    let mut out = Vec::new();
    for i in 2..LIMIT {
        if sieve[i] {
            if i > 2 {
                out.push(i as u64);
            }
            let mut j = i * i;
            while j < LIMIT {
                sieve[j] = false;
                j += i;
            }
        }
    }
    out
}

/// Miller-Rabin with base 2 and `rounds` random bases.
fn probably_prime(n: &Big, rounds: usize, rng: &mut Rng) -> bool {
    let one = Big::from_u64(1);
    let n1 = n.sub(&one);
    let mut s = 0;
    while !n1.bit(s) {
        s += 1;
    }
    let mut d = n1.clone();
    for _ in 0..s {
        d = d.div_u64(2).0;
    }
    let mont = Mont::new(n);
    let m_one = mont.one();
    let m_n1 = mont.to_mont(&n1);
    let bytes = n.bits().div_ceil(8);
    for round in 0..=rounds {
        let a = if round == 0 {
            Big::from_u64(2)
        } else {
            loop {
                let mut buf = vec![0u8; bytes];
                rng.fill(&mut buf);
                let a = Big::from_be(&buf).rem(&n1);
                if a.bits() > 1 {
                    break a;
                }
            }
        };
        let mut x = mont.pow(&mont.to_mont(&a), &d);
        if x == m_one || x == m_n1 {
            continue;
        }
        let mut witness = true;
        for _ in 1..s {
            x = mont.mul(&x, &x);
            if x == m_n1 {
                witness = false;
                break;
            }
            if x == m_one {
                break;
            }
        }
        if witness {
            return false;
        }
    }
    true
}

/// A random prime of exactly `bits` bits (a multiple of 8, at least 64) with its two top
/// bits set, p-1 coprime to `e`.
pub fn gen_prime(bits: usize, e: u64, rng: &mut Rng) -> Big {
    let primes = small_primes();
    loop {
        let mut buf = vec![0u8; bits / 8];
        rng.fill(&mut buf);
        buf[0] |= 0xC0;
        if let Some(last) = buf.last_mut() {
            *last |= 1;
        }
        let base = Big::from_be(&buf);
        // Sieve a window of odd offsets: composite[i] is base + 2i having a small factor.
        const WINDOW: usize = 1 << 15;
        let mut composite = vec![false; WINDOW];
        for &p in &primes {
            let r = base.rem_u64(p);
            // The first i with base + 2i ≡ 0 (mod p): 2i ≡ -r, i ≡ -r·2⁻¹ (p odd).
            let half = p.div_ceil(2);
            let mut i = (((p - r) % p) * half % p) as usize;
            while i < WINDOW {
                composite[i] = true;
                i += p as usize;
            }
        }
        for (i, _) in composite.iter().enumerate().filter(|(_, c)| !**c) {
            let cand = base.add(&Big::from_u64(2 * i as u64));
            if cand.bits() != bits {
                break;
            }
            if cand.rem_u64(e) != 1 && probably_prime(&cand, 6, rng) {
                return cand;
            }
        }
    }
}

/// The inverse of a small prime `e` modulo m, if it exists.
pub fn inv_small(e: u64, m: &Big) -> Option<Big> {
    let r = m.rem_u64(e);
    if r == 0 {
        return None;
    }
    // r⁻¹ mod e by Fermat (e prime).
    let mut inv = 1u128;
    let mut b = u128::from(r);
    let mut x = e - 2;
    let em = u128::from(e);
    while x > 0 {
        if x & 1 == 1 {
            inv = inv * b % em;
        }
        b = b * b % em;
        x >>= 1;
    }
    let k = (em - inv) % em;
    let t = m.mul(&Big::from_u64(k as u64)).add(&Big::from_u64(1));
    let (d, rem) = t.div_u64(e);
    (rem == 0).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let a = Big::from_be(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11]);
        let b = Big::from_u64(0xfedc_ba98);
        assert_eq!(a.mul(&b).div_u64(0xfedc_ba98), (a.clone(), 0));
        assert_eq!(
            Big::from_u64(3)
                .modpow(&Big::from_u64(200), &Big::from_u64(1_000_000_007))
                .0,
            vec![
                3u128.pow(0) as u64 * {
                    let mut r = 1u128;
                    for _ in 0..200 {
                        r = r * 3 % 1_000_000_007;
                    }
                    r as u64
                }
            ]
        );
        assert_eq!(a.mul(&b).add(&Big::from_u64(5)).rem(&a), Big::from_u64(5));
        let mut rng = Rng::new(1);
        let p = gen_prime(256, 65537, &mut rng);
        assert_eq!(p.bits(), 256);
        let d = inv_small(65537, &p.sub(&Big::from_u64(1))).expect("inverse");
        let x = Big::from_u64(123_456_789);
        assert_eq!(x.modpow(&Big::from_u64(65537), &p).modpow(&d, &p), x);
    }
}
