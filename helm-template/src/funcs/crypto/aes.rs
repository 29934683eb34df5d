//! AES-256 (FIPS 197), byte-oriented, with its tables computed rather than written out.

fn xtime(a: u8) -> u8 {
    (a << 1) ^ if a & 0x80 != 0 { 0x1b } else { 0 }
}

fn gmul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        a = xtime(a);
        b >>= 1;
    }
    p
}

struct Tables {
    sbox: [u8; 256],
    inv: [u8; 256],
}

fn tables() -> Tables {
    let mut sbox = [0u8; 256];
    let mut inv = [0u8; 256];
    for (x, slot) in sbox.iter_mut().enumerate() {
        // The multiplicative inverse in GF(2^8) (0 for 0), then the affine map.
        let b = if x == 0 {
            0
        } else {
            (1..=255u8).find(|y| gmul(x as u8, *y) == 1).unwrap_or(0)
        };
        let s =
            b ^ b.rotate_left(1) ^ b.rotate_left(2) ^ b.rotate_left(3) ^ b.rotate_left(4) ^ 0x63;
        *slot = s;
        inv[s as usize] = x as u8;
    }
    Tables { sbox, inv }
}

pub struct Aes256 {
    round_keys: [[u8; 16]; 15],
    t: Tables,
}

impl Aes256 {
    pub fn new(key: &[u8; 32]) -> Aes256 {
        let t = tables();
        let mut w = [[0u8; 4]; 60];
        for i in 0..8 {
            w[i].copy_from_slice(&key[4 * i..4 * i + 4]);
        }
        let mut rcon = 1u8;
        for i in 8..60 {
            let mut temp = w[i - 1];
            if i % 8 == 0 {
                temp = [
                    t.sbox[temp[1] as usize] ^ rcon,
                    t.sbox[temp[2] as usize],
                    t.sbox[temp[3] as usize],
                    t.sbox[temp[0] as usize],
                ];
                rcon = xtime(rcon);
            } else if i % 8 == 4 {
                temp = temp.map(|b| t.sbox[b as usize]);
            }
            for j in 0..4 {
                w[i][j] = w[i - 8][j] ^ temp[j];
            }
        }
        let mut round_keys = [[0u8; 16]; 15];
        for (r, rk) in round_keys.iter_mut().enumerate() {
            for c in 0..4 {
                rk[4 * c..4 * c + 4].copy_from_slice(&w[4 * r + c]);
            }
        }
        Aes256 { round_keys, t }
    }

    fn add(s: &mut [u8; 16], k: &[u8; 16]) {
        for i in 0..16 {
            s[i] ^= k[i];
        }
    }

    pub fn encrypt(&self, s: &mut [u8; 16]) {
        Self::add(s, &self.round_keys[0]);
        for round in 1..15 {
            for b in s.iter_mut() {
                *b = self.t.sbox[*b as usize];
            }
            shift_rows(s, false);
            if round != 14 {
                for c in 0..4 {
                    let col = [s[4 * c], s[4 * c + 1], s[4 * c + 2], s[4 * c + 3]];
                    for r in 0..4 {
                        s[4 * c + r] = gmul(col[r], 2)
                            ^ gmul(col[(r + 1) % 4], 3)
                            ^ col[(r + 2) % 4]
                            ^ col[(r + 3) % 4];
                    }
                }
            }
            Self::add(s, &self.round_keys[round]);
        }
    }

    pub fn decrypt(&self, s: &mut [u8; 16]) {
        Self::add(s, &self.round_keys[14]);
        for round in (0..14).rev() {
            shift_rows(s, true);
            for b in s.iter_mut() {
                *b = self.t.inv[*b as usize];
            }
            Self::add(s, &self.round_keys[round]);
            if round != 0 {
                for c in 0..4 {
                    let col = [s[4 * c], s[4 * c + 1], s[4 * c + 2], s[4 * c + 3]];
                    for r in 0..4 {
                        s[4 * c + r] = gmul(col[r], 14)
                            ^ gmul(col[(r + 1) % 4], 11)
                            ^ gmul(col[(r + 2) % 4], 13)
                            ^ gmul(col[(r + 3) % 4], 9);
                    }
                }
            }
        }
    }
}

/// Row r of the column-major state moves left by r (right when inverting).
fn shift_rows(s: &mut [u8; 16], inverse: bool) {
    let old = *s;
    for c in 0..4 {
        for r in 1..4 {
            let from = if inverse {
                (c + 4 - r) % 4
            } else {
                (c + r) % 4
            };
            s[4 * c + r] = old[4 * from + r];
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fips197_vector() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let mut block: [u8; 16] = std::array::from_fn(|i| (i as u8) * 0x11);
        let aes = super::Aes256::new(&key);
        aes.encrypt(&mut block);
        let hex: String = block.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "8ea2b7ca516745bfeafc49904b496089");
        aes.decrypt(&mut block);
        assert_eq!(block, std::array::from_fn(|i| (i as u8) * 0x11));
    }
}
