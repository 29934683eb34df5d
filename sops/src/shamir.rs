//! Shamir's secret sharing over GF(2^8) as sops uses it for key groups
//! (HashiCorp Vault's scheme): each share is the secret's bytes evaluated at
//! one point, with that point's x as its last byte.

/// Multiplication in Rijndael's field, GF(2)[X] / (X^8 + X^4 + X^3 + X + 1).
fn mul(a: u8, b: u8) -> u8 {
    let mut acc = 0u8;
    for i in (0..8).rev() {
        let carry = if acc & 0x80 != 0 { 0x1b } else { 0 };
        acc = (acc << 1) ^ carry;
        if (b >> i) & 1 == 1 {
            acc ^= a;
        }
    }
    acc
}

/// a^254 = a^-1 for a ≠ 0.
fn inverse(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut exp = 254u8;
    while exp > 0 {
        if exp & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    result
}

/// Recovers the secret from at least the threshold's number of shares.
pub fn combine(shares: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    if shares.len() < 2 {
        return Err("fewer than two Shamir shares".into());
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err("Shamir shares of different lengths".into());
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    if (1..xs.len()).any(|i| xs[..i].contains(&xs[i])) {
        return Err("two Shamir shares for the same point".into());
    }
    let mut secret = vec![0u8; len - 1];
    for (byte, out) in secret.iter_mut().enumerate() {
        // Lagrange interpolation at x = 0; subtraction is XOR.
        let mut value = 0u8;
        for (i, share) in shares.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    basis = mul(basis, mul(xj, inverse(xs[i] ^ xj)));
                }
            }
            value ^= mul(share[byte], basis);
        }
        *out = value;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shares of `secret` from the polynomial secret + c1·x (threshold 2).
    fn split(secret: &[u8], c1: u8, x: u8) -> Vec<u8> {
        let mut share: Vec<u8> = secret.iter().map(|&s| s ^ mul(c1, x)).collect();
        share.push(x);
        share
    }

    #[test]
    fn field_arithmetic_is_rijndaels() {
        assert_eq!(mul(0x57, 0x83), 0xc1);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inverse(a)), 1);
        }
    }

    #[test]
    fn any_two_shares_recover_the_secret() {
        let secret = b"a 32-byte data key for the test!".to_vec();
        let shares: Vec<Vec<u8>> = [7u8, 100, 201]
            .iter()
            .map(|&x| split(&secret, 0x5c, x))
            .collect();
        for pair in [[0, 1], [0, 2], [1, 2]] {
            let chosen = vec![shares[pair[0]].clone(), shares[pair[1]].clone()];
            assert_eq!(combine(&chosen).unwrap(), secret);
        }
        assert!(combine(&shares[..1]).is_err());
        assert!(combine(&[shares[0].clone(), shares[0].clone()]).is_err());
    }
}
