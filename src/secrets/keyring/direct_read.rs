//! The fast path of a keychain read on Linux: one D-Bus connection, an encrypted session, one
//! search and one `GetSecret`, as libsecret does it.
//!
//! The store crate opens the same `dh-ietf1024-sha256-aes128-cbc-pkcs7` session, but computes
//! its two 1024-bit modular exponentiations by schoolbook square-and-multiply with a division at
//! every step (most of a keychain read's time) and draws its private exponent from `fastrand`.
//! Here the exponent comes from the OS's CSPRNG and the exponentiations are num-bigint's
//! Montgomery `modpow`; the wire protocol and the encryption are the same.
//!
//! Only the plain case is taken here: exactly one unlocked item matches. Anything else (no
//! item, several, a locked one that needs an unlock prompt) is [`Read::Elsewhere`], and the
//! caller goes through the store as before, so every rule about those cases stays in one place.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use dbus::Message;
use dbus::arg::{RefArg, Variant};
use dbus::blocking::Connection;
use dbus_secret_service::Error;
use num_bigint::BigUint;
use zeroize::{Zeroize, Zeroizing};

use super::direct_search;

const SERVICE: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE_INTERFACE: &str = "org.freedesktop.Secret.Service";
const ITEM_INTERFACE: &str = "org.freedesktop.Secret.Item";
const ALGORITHM: &str = "dh-ietf1024-sha256-aes128-cbc-pkcs7";
/// What libdbus waits for a reply by default, as the store crate's calls do.
const REPLY_TIMEOUT: Duration = Duration::from_secs(25);
/// Sessions opened at most for one read (see `read`): after three, the odds that every shared
/// secret started with a zero byte are one in 16 million, and the specification's key is used.
const SESSION_ATTEMPTS: u32 = 3;
/// Bytes of the group's prime and of every value in the exchange.
const GROUP_BYTES: usize = 128;

/// The prime of RFC 2409's Second Oakley Group (1024-bit MODP), the group the Secret Service
/// specification names for this algorithm; the generator is 2.
static PRIME: LazyLock<BigUint> = LazyLock::new(|| {
    BigUint::parse_bytes(
        b"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
          020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
          4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
          EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
        16,
    )
    .expect("the prime is valid hexadecimal")
});

pub enum Read {
    /// The one matching item's secret.
    Found(Zeroizing<Vec<u8>>),
    /// No item matches, locked or not.
    Absent,
    /// Not the plain case: read through the store.
    Elsewhere,
}

/// Reads the secret of the one unlocked item with these attributes, if that is what there is.
/// The search and the session's opening go out together (one round trip), and the session is
/// not closed: the Secret Service closes it with the connection, when the process ends.
pub fn read(attributes: &HashMap<&str, &str>) -> Result<Read, Error> {
    let connection = Connection::new_session()?;
    crate::logging::phase!("keychain: D-Bus connected");
    let (private, public) = key_pair()?;
    let search = Message::new_method_call(SERVICE, SERVICE_PATH, SERVICE_INTERFACE, "SearchItems")
        .map_err(Error::Path)?
        .append1(attributes.clone());
    let mut replies =
        direct_search::call_all(&connection, vec![search, open_session(public)?])?.into_iter();
    let (Some(search), Some(open)) = (replies.next(), replies.next()) else {
        return Err(Error::Parse);
    };
    let (unlocked, locked): (Vec<dbus::Path<'static>>, Vec<dbus::Path<'static>>) =
        search?.read2().map_err(|_| Error::Parse)?;
    let (mut output, mut session) = session_opened(open?)?;
    crate::logging::phase!("keychain: items searched, encrypted session open");
    let item = match (unlocked.as_slice(), locked.is_empty()) {
        ([], true) => return Ok(Read::Absent),
        ([item], true) => item,
        _ => return Ok(Read::Elsewhere),
    };
    let mut private = private;
    let mut attempt = 1;
    let key = loop {
        let theirs = dbus::arg::cast::<Vec<u8>>(&output.0).ok_or(Error::Parse)?;
        let derived = derive_key(&private.0, theirs)?;
        if !derived.leading_zero || attempt == SESSION_ATTEMPTS {
            break derived.key;
        }
        // A shared secret with a leading zero byte is where providers disagree (the
        // specification pads it to 128 bytes; kwalletd hashes it unpadded): one time in 256,
        // open another session, whose secret every provider encodes alike.
        attempt += 1;
        let (fresh, public) = key_pair()?;
        private = fresh;
        let reply = connection
            .channel()
            .send_with_reply_and_block(open_session(public)?, REPLY_TIMEOUT)?;
        (output, session) = session_opened(reply)?;
    };
    let proxy = connection.with_proxy(SERVICE, item.clone(), REPLY_TIMEOUT);
    let ((_, iv, mut value, _),): ((dbus::Path<'static>, Vec<u8>, Vec<u8>, String),) =
        proxy.method_call(ITEM_INTERFACE, "GetSecret", (session,))?;
    let secret = decrypt(&key, &iv, &value);
    value.zeroize();
    crate::logging::phase!("keychain: secret read");
    secret.map(Read::Found)
}

/// `OpenSession` of our algorithm with our public value.
fn open_session(public: Vec<u8>) -> Result<Message, Error> {
    Ok(
        Message::new_method_call(SERVICE, SERVICE_PATH, SERVICE_INTERFACE, "OpenSession")
            .map_err(Error::Path)?
            .append2(ALGORITHM, Variant(Box::new(public) as Box<dyn RefArg>)),
    )
}

/// The service's public value and the session's path, from `OpenSession`'s reply.
fn session_opened(
    reply: Message,
) -> Result<(Variant<Box<dyn RefArg>>, dbus::Path<'static>), Error> {
    reply.read2().map_err(|_| Error::Parse)
}

/// Our private exponent, overwritten when dropped.
struct Private(BigUint);

impl Drop for Private {
    fn drop(&mut self) {
        scrub(&mut self.0);
    }
}

/// Overwrites a number's digits with zeros where they are stored. num-bigint has no `Zeroize`:
/// `assign_from_slice` clears the digits and writes as many zeros into the same buffer (no
/// reallocation, as many as there were), then frees it. The temporaries of `modpow` itself are
/// out of reach.
fn scrub(n: &mut BigUint) {
    let words = n.iter_u32_digits().len();
    n.assign_from_slice(&vec![0u32; words]);
}

/// Our private exponent (from the OS's CSPRNG) and public value, big-endian and left-padded to
/// the prime's size: the specification's value is 128 bytes, and KWallet refuses any other
/// length ("Client public key size is invalid"), which an unpadded value has one time in 256.
fn key_pair() -> Result<(Private, Vec<u8>), Error> {
    let mut private_bytes = Zeroizing::new([0u8; GROUP_BYTES]);
    getrandom::fill(private_bytes.as_mut_slice())
        .map_err(|e| Error::Crypto(format!("no randomness for the session key: {e}").into()))?;
    let private = Private(BigUint::from_bytes_be(private_bytes.as_slice()));
    let public = public_value(&private.0);
    Ok((private, public))
}

/// g^x mod p as exactly [`GROUP_BYTES`] big-endian bytes.
fn public_value(private: &BigUint) -> Vec<u8> {
    let value = BigUint::from(2u8).modpow(private, &PRIME).to_bytes_be();
    let mut padded = vec![0u8; GROUP_BYTES - value.len()];
    padded.extend_from_slice(&value);
    padded
}

/// The AES key from our private exponent and the service's public value: HKDF-SHA256 with no
/// salt and empty info, of the shared secret as a big-endian number left-padded to the prime's
/// size, 16 bytes out (the Secret Service specification's `dh-ietf1024-sha256-aes128-cbc-pkcs7`;
/// libsecret and gnome-keyring do the same).
fn derive_key(private: &BigUint, theirs: &[u8]) -> Result<Derived, Error> {
    let invalid = || Error::Crypto("the Secret Service sent an invalid public key".into());
    // Read as a number, whatever its leading zeros: gnome-keyring sends its value without
    // them (libgcrypt's unsigned format, shorter than 128 bytes one time in 256) and KWallet
    // with a sign byte (QCA's two's complement: 129 bytes when the top bit is set); libsecret
    // accepts both. Past the zeros, at most the prime's size.
    let significant = &theirs[theirs.iter().take_while(|b| **b == 0).count()..];
    if significant.len() > GROUP_BYTES {
        return Err(invalid());
    }
    let theirs = BigUint::from_bytes_be(significant);
    // 0, 1 and p-1 (and anything outside the group) would make the shared secret guessable.
    let one = BigUint::from(1u8);
    if theirs <= one || theirs >= &*PRIME - &one {
        return Err(invalid());
    }
    let mut shared = theirs.modpow(private, &PRIME);
    let bytes = Zeroizing::new(shared.to_bytes_be());
    scrub(&mut shared);
    let mut padded = Zeroizing::new([0u8; GROUP_BYTES]);
    padded[GROUP_BYTES - bytes.len()..].copy_from_slice(&bytes);
    let mut key = Zeroizing::new([0u8; 16]);
    hkdf::Hkdf::<sha2::Sha256>::new(None, padded.as_slice())
        .expand(&[], key.as_mut_slice())
        .map_err(|_| Error::Crypto("cannot derive the session key".into()))?;
    Ok(Derived {
        key,
        leading_zero: padded[0] == 0,
    })
}

/// A session's AES key, and whether the shared secret it came from starts with a zero byte.
struct Derived {
    key: Zeroizing<[u8; 16]>,
    leading_zero: bool,
}

/// AES-128-CBC with PKCS#7 padding, the IV sent with the secret. Decrypted in place in a buffer
/// that is zeroized when dropped, a failed attempt's bytes too. Any malformed input (an IV that
/// is not 16 bytes, a length that is not whole blocks, bad padding) is an error, never a panic.
fn decrypt(key: &[u8; 16], iv: &[u8], value: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bad = || Error::Crypto("the Secret Service sent a secret that cannot be decrypted".into());
    let iv: &[u8; 16] = iv.try_into().map_err(|_| bad())?;
    let mut buffer = Zeroizing::new(value.to_vec());
    let len = cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into())
        .decrypt_padded_mut::<Pkcs7>(&mut buffer)
        .map_err(|_| bad())?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use aes::cipher::BlockEncryptMut;

    use super::*;

    /// Both sides of one exchange, computed here: the keys agree, and a secret encrypted with
    /// one is read back with the other.
    #[test]
    fn both_sides_derive_the_same_key_and_a_secret_round_trips() {
        let ours = BigUint::from_bytes_be(&[0x5a; GROUP_BYTES]);
        let theirs = BigUint::from_bytes_be(&[0xa5; GROUP_BYTES]);
        let two = BigUint::from(2u8);
        let our_public = two.modpow(&ours, &PRIME).to_bytes_be();
        let their_public = two.modpow(&theirs, &PRIME).to_bytes_be();
        let key = derive_key(&ours, &their_public).unwrap().key;
        assert_eq!(*key, *derive_key(&theirs, &our_public).unwrap().key);

        let iv = [7u8; 16];
        let secret = b"flux_dev_abc123def456ghi789jkl012mno34";
        let sealed = cbc::Encryptor::<aes::Aes128>::new((&*key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<Pkcs7>(secret);
        assert_ne!(sealed.as_slice(), secret.as_slice());
        assert_eq!(decrypt(&key, &iv, &sealed).unwrap().as_slice(), secret);
        // Another key, or an IV of the wrong size, is refused rather than misread.
        let other = derive_key(&ours, &two.modpow(&ours, &PRIME).to_bytes_be())
            .unwrap()
            .key;
        assert!(decrypt(&other, &iv, &sealed).is_err_and(|e| matches!(e, Error::Crypto(_))));
        assert!(decrypt(&key, &iv[..8], &sealed).is_err());
    }

    /// The textbook schoolbook exponentiation gives what `modpow` gives.
    #[test]
    fn modpow_agrees_with_square_and_multiply() {
        let base = BigUint::from(2u8);
        let exponent = BigUint::from_bytes_be(&[0x3c; GROUP_BYTES]);
        let mut slow = BigUint::from(1u8);
        for bit in (0..exponent.bits()).rev() {
            slow = &slow * &slow % &*PRIME;
            if exponent.bit(bit) {
                slow = &slow * &base % &*PRIME;
            }
        }
        assert_eq!(base.modpow(&exponent, &PRIME), slow);
    }

    /// A public value with leading zero bytes still goes out as 128 bytes (KWallet refuses
    /// anything else), and the service's side derives the same key from it.
    #[test]
    fn our_public_value_is_always_left_padded_to_128_bytes() {
        // 2^1000 < p: its minimal big-endian form is 126 bytes.
        let short = BigUint::from(1000u32);
        let public = public_value(&short);
        assert_eq!(public.len(), GROUP_BYTES);
        assert_eq!(&public[..2], &[0, 0]);
        assert_eq!(
            BigUint::from_bytes_be(&public),
            BigUint::from(2u8).pow(1000)
        );
        // Random exponents: always 128 bytes.
        for _ in 0..64 {
            let (private, public) = key_pair().unwrap();
            assert_eq!(public.len(), GROUP_BYTES);
            assert_eq!(
                BigUint::from_bytes_be(&public),
                BigUint::from(2u8).modpow(&private.0, &PRIME)
            );
        }
        // The service's key agrees with ours, from the padded value or the unpadded one.
        let theirs = BigUint::from_bytes_be(&[0xa5; GROUP_BYTES]);
        let their_public = public_value(&theirs);
        let key = derive_key(&short, &their_public).unwrap().key;
        assert_eq!(*key, *derive_key(&theirs, &public).unwrap().key);
        assert_eq!(*key, *derive_key(&theirs, &public[2..]).unwrap().key);
    }

    /// The service's value is a number: leading zeros (KWallet's sign byte) or none
    /// (gnome-keyring's unpadded form) give the same key; more significant bytes than the
    /// prime's, or none at all, are refused.
    #[test]
    fn the_services_public_value_is_read_as_a_number() {
        let ours = BigUint::from_bytes_be(&[0x5a; GROUP_BYTES]);
        let valid = public_value(&BigUint::from_bytes_be(&[0xa5; GROUP_BYTES]));
        let key = derive_key(&ours, &valid).unwrap().key;
        let mut signed = vec![0u8];
        signed.extend_from_slice(&valid);
        assert_eq!(*key, *derive_key(&ours, &signed).unwrap().key);
        let short = public_value(&BigUint::from(1000u32));
        assert_eq!(
            *derive_key(&ours, &short).unwrap().key,
            *derive_key(&ours, &short[2..]).unwrap().key
        );
        let mut longer = vec![1u8];
        longer.extend_from_slice(&valid);
        for theirs in [longer, Vec::new(), vec![0u8; GROUP_BYTES + 1]] {
            assert!(
                derive_key(&ours, &theirs).is_err_and(|e| matches!(e, Error::Crypto(_))),
                "{} bytes",
                theirs.len()
            );
        }
    }

    /// Whatever the service sends, a bad secret is an error (the keychain error upstream),
    /// never a panic and never a misread.
    #[test]
    fn malformed_secrets_fail_closed() {
        let key = [3u8; 16];
        let iv = [7u8; 16];
        let sealed = cbc::Encryptor::<aes::Aes128>::new((&key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<Pkcs7>(b"flux_dev_abc123def456ghi789jkl012mno34");
        assert!(decrypt(&key, &iv, &sealed).is_ok());
        // IVs of the wrong length.
        for len in [0, 1, 15, 17, 32] {
            assert!(
                decrypt(&key, &vec![7u8; len], &sealed).is_err(),
                "IV of {len}"
            );
        }
        // Ciphertexts that are not whole blocks, or none.
        for len in [0, 1, 15, 17, sealed.len() - 1] {
            assert!(decrypt(&key, &iv, &sealed[..len]).is_err(), "{len} bytes");
        }
        // Whole blocks whose last byte is not PKCS#7 padding.
        let unpadded = cbc::Encryptor::<aes::Aes128>::new((&key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<aes::cipher::block_padding::NoPadding>(&[0u8; 32]);
        assert!(decrypt(&key, &iv, &unpadded).is_err());
        // Each maps to the keychain's own error, not to "no entry" or a panic: a refused
        // session, as the store crate's undecryptable secret is, which `KeyringStore::run`
        // tries again on a fresh session within its bound and reports after that.
        let e = decrypt(&key, &iv, &sealed[..15]).unwrap_err();
        assert!(matches!(
            super::super::secret_service::classify(&e),
            Some(crate::secrets::SecretStoreError::SessionRefused(_))
        ));
    }

    /// The Secret Service specification's derivation: HKDF-SHA256, no salt, empty info, of the
    /// shared secret padded to 128 bytes; and a shared secret with a leading zero byte (where
    /// kwalletd, which does not pad, disagrees) is flagged for `read` to open another session.
    #[test]
    fn the_key_is_hkdf_of_the_padded_shared_secret() {
        // Their value 2 and our exponent 1000: the shared secret is 2^1000, 126 bytes.
        let derived = derive_key(&BigUint::from(1000u32), &[2]).unwrap();
        assert!(derived.leading_zero);
        let mut padded = [0u8; GROUP_BYTES];
        padded[2] = 1; // 2^1000 = 0x01 followed by 125 zero bytes
        let mut expected = [0u8; 16];
        hkdf::Hkdf::<sha2::Sha256>::new(None, &padded)
            .expand(&[], &mut expected)
            .unwrap();
        assert_eq!(*derived.key, expected);
        // 2^1023: its top byte is 0x80, no zero byte to disagree on.
        assert!(
            !derive_key(&BigUint::from(1023u32), &[2])
                .unwrap()
                .leading_zero
        );
    }

    #[test]
    fn scrubbed_numbers_are_zero() {
        let mut n = BigUint::from_bytes_be(&[0x5a; GROUP_BYTES]);
        scrub(&mut n);
        assert_eq!(n, BigUint::from(0u8));
    }

    #[test]
    fn public_values_that_would_give_away_the_key_are_refused() {
        let ours = BigUint::from_bytes_be(&[0x5a; GROUP_BYTES]);
        let p_minus_one = (&*PRIME - 1u8).to_bytes_be();
        for theirs in [
            vec![0u8],
            vec![1],
            p_minus_one,
            PRIME.to_bytes_be(),
            vec![0xff; 129],
        ] {
            assert!(derive_key(&ours, &theirs).is_err(), "{theirs:?}");
        }
        assert!(derive_key(&ours, &[2]).is_ok());
    }
}
