//! The fast path of a keychain read (and of a new item's write) on Linux: an encrypted session of our own, one search and
//! one `GetSecret`, over the command's kept D-Bus connection, as libsecret does it.
//!
//! The store crate opens the same `dh-ietf1024-sha256-aes128-cbc-pkcs7` session, but computes
//! its two 1024-bit exponentiations by schoolbook square-and-multiply (variable time, 1.3 ms
//! each) and draws its private exponent from `fastrand` seeded by the clock and the thread id
//! (at most 64 bits, mostly guessable: a capture of the bus traffic could recover the session
//! key). Here the exponent is 256 bits from the OS's CSPRNG (see [`EXPONENT_BITS`]) and both
//! exponentiations are crypto-bigint's constant-time Montgomery ones; the wire protocol and the
//! encryption are the specification's.
//!
//! Only the plain case is taken here: exactly one unlocked item matches and none is locked.
//! Anything else (no item, several, a locked one that needs an unlock prompt) is
//! [`Read::Elsewhere`], and the caller goes through the store as before, so every rule about
//! those cases stays in one place. Writes likewise ([`create`]): only a new item in an unlocked
//! default collection, without a prompt; replacing an item stays with the store.

use std::collections::HashMap;
use std::sync::LazyLock;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, U1024};
use dbus::Message;
use dbus::arg::{RefArg, Variant};
use dbus::blocking::Connection;
use dbus_secret_service::Error;
use zeroize::{Zeroize, Zeroizing};

use super::direct_search::{
    self, COLLECTION_INTERFACE, ITEM_INTERFACE, PROMPT_INTERFACE, PROPERTIES, REPLY_TIMEOUT,
    SERVICE, SERVICE_INTERFACE, SERVICE_PATH,
};

/// What the store crate writes, so that an item reads the same whichever wrote it.
const CONTENT_TYPE: &str = "application/octet-stream";
const ALGORITHM: &str = "dh-ietf1024-sha256-aes128-cbc-pkcs7";
/// Bits of our private exponent. The group's strength is about 80 bits (a 1024-bit prime); an
/// exponent of at least twice the strength keeps all of it (RFC 3526, section 8; RFC 7919,
/// section 5.2), and with a safe prime and the service's value checked (see [`derive_key`]) no
/// shortcut through a small subgroup exists. OpenSSL likewise draws short exponents for these
/// groups. 256 bits: more than three times the strength, and a quarter of the time of a
/// 1,024-bit exponent (libsecret's) for each of the two exponentiations.
const EXPONENT_BITS: usize = 256;
/// Bytes of the group's prime and of every value in the exchange.
const GROUP_BYTES: usize = 128;

/// The prime of RFC 2409's Second Oakley Group (1024-bit MODP), the group the Secret Service
/// specification names for this algorithm; the generator is 2.
const PRIME_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
    020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
    4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
    EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF";

/// The prime and its Montgomery constants, computed once (a few microseconds).
static GROUP: LazyLock<DynResidueParams<{ U1024::LIMBS }>> =
    LazyLock::new(|| DynResidueParams::new(&prime()));

fn prime() -> U1024 {
    let hex: String = PRIME_HEX.split_whitespace().collect();
    U1024::from_be_hex(&hex)
}

pub enum Read {
    /// The one matching item's secret.
    Found(Zeroizing<Vec<u8>>),
    /// Not the plain case: read through the store.
    Elsewhere,
}

/// Our side of one exchange: the private exponent (wiped when dropped) and our public value,
/// always 128 bytes.
pub struct KeyPair {
    private: Zeroizing<U1024>,
    public: [u8; GROUP_BYTES],
}

/// Reads the secret of the one unlocked item with these attributes, if that is what there is.
/// The search and the session's opening go out together (one round trip), `GetSecret` goes out
/// before the session key is derived (derived while the reply is on its way), and the session
/// is not closed: the Secret Service closes it with the connection, when the process ends.
pub fn read(connection: &Connection, attributes: &HashMap<&str, &str>) -> Result<Read, Error> {
    let (found, _) = search_and_open(connection, attributes, None)?;
    let ([item], true) = (found.unlocked.as_slice(), found.locked.is_empty()) else {
        return Ok(Read::Elsewhere);
    };
    let get = Message::new_method_call(SERVICE, item, ITEM_INTERFACE, "GetSecret")
        .map_err(Error::Path)?
        .append1(found.session.clone());
    let serial = send(connection, get)?;
    let key = found.derive_key();
    let reply = reply_to(connection, serial)?;
    let key = key?;
    let mut reply = match reply {
        Ok(reply) => reply,
        // Deleted or locked since the search: the store finds out what is there now.
        Err(e) if is_gone_or_locked(&e) => return Ok(Read::Elsewhere),
        Err(e) => return Err(e.into()),
    };
    let (_, iv, mut value, _): (dbus::Path<'static>, Vec<u8>, Vec<u8>, String) =
        reply.as_result()?.read1().map_err(|_| Error::Parse)?;
    let secret = decrypt(&key, &iv, &value);
    value.zeroize();
    crate::logging::phase!("keychain: secret read");
    secret.map(Read::Found)
}

/// What the first round trip of [`read`] and [`create`] found: the items matching the search,
/// and a session of our own just opened, with our key pair.
struct Opened {
    unlocked: Vec<dbus::Path<'static>>,
    locked: Vec<dbus::Path<'static>>,
    session: dbus::Path<'static>,
    /// The service's public value.
    theirs: Vec<u8>,
    pair: KeyPair,
}

impl Opened {
    /// The session's AES key; the key pair is wiped once it is derived. A shared secret with a
    /// leading zero byte is where providers disagree (the specification pads it to 128 bytes;
    /// kwalletd hashes it unpadded): one time in 256, a refused session, which the caller's
    /// retry loop replaces with a fresh one. No second key is tried.
    fn derive_key(self) -> Result<Zeroizing<[u8; 16]>, Error> {
        let derived = derive_key(&self.pair.private, &self.theirs);
        drop(self.pair);
        crate::logging::phase!("keychain: session key derived");
        let derived = derived?;
        if derived.leading_zero {
            return Err(Error::Crypto(
                "the session's shared secret starts with a zero byte".into(),
            ));
        }
        Ok(derived.key)
    }
}

/// A fresh key pair, then `SearchItems` for `attributes`, `OpenSession` and `also` (if any)
/// sent together: one round trip. `also`'s reply comes back as it is.
fn search_and_open(
    connection: &Connection,
    attributes: &HashMap<&str, &str>,
    also: Option<Message>,
) -> Result<(Opened, Option<Result<Message, dbus::Error>>), Error> {
    let pair = key_pair()?;
    crate::logging::phase!("keychain: key pair made");
    let search = Message::new_method_call(SERVICE, SERVICE_PATH, SERVICE_INTERFACE, "SearchItems")
        .map_err(Error::Path)?
        .append1(attributes.clone());
    let mut requests = vec![search, open_session(&pair)?];
    requests.extend(also);
    let mut replies = direct_search::call_all(connection, requests)?.into_iter();
    let (Some(search), Some(opened)) = (replies.next(), replies.next()) else {
        return Err(Error::Parse);
    };
    let (unlocked, locked): (Vec<dbus::Path<'static>>, Vec<dbus::Path<'static>>) =
        search?.read2().map_err(|_| Error::Parse)?;
    let (output, session): (Variant<Box<dyn RefArg>>, dbus::Path<'static>) =
        opened?.read2().map_err(|_| Error::Parse)?;
    let theirs = dbus::arg::cast::<Vec<u8>>(&output.0)
        .ok_or(Error::Parse)?
        .clone();
    crate::logging::phase!("keychain: items searched, encrypted session open");
    let opened = Opened {
        unlocked,
        locked,
        session,
        theirs,
        pair,
    };
    Ok((opened, replies.next()))
}

pub enum Write {
    /// A new item holds the secret, created in our session.
    Created,
    /// Not the plain case: write through the store.
    Elsewhere,
}

/// Creates the item for a secret that no item holds yet, in the default collection, encrypted
/// in our own session, with `attributes` (the search's and the marker) and `label`. The plain
/// case only: no item matches `search` (locked or not), the default collection exists and is
/// unlocked, and the service creates the item without a prompt. Anything else, an existing item
/// to replace included, is [`Write::Elsewhere`]: the store's write and `mark` keep every rule
/// about those (KeePassXC's computed attributes, prompts, missing collections) in one place.
pub fn create(
    connection: &Connection,
    search: &HashMap<&str, &str>,
    attributes: &HashMap<&str, &str>,
    label: &str,
    secret: &[u8],
) -> Result<Write, Error> {
    let alias = Message::new_method_call(SERVICE, SERVICE_PATH, SERVICE_INTERFACE, "ReadAlias")
        .map_err(Error::Path)?
        .append1("default");
    let (found, alias) = search_and_open(connection, search, Some(alias))?;
    let collection: dbus::Path<'static> = alias
        .ok_or(Error::Parse)??
        .read1()
        .map_err(|_| Error::Parse)?;
    if !found.unlocked.is_empty() || !found.locked.is_empty() {
        tracing::debug!("keychain: an item exists; written through the store");
        return Ok(Write::Elsewhere);
    }
    if &*collection == "/" {
        tracing::debug!("keychain: no default collection; written through the store");
        return Ok(Write::Elsewhere);
    }
    // Whether the collection is locked, asked while the session key is derived.
    let serial = send(
        connection,
        Message::new_method_call(SERVICE, collection.clone(), PROPERTIES, "Get")
            .map_err(Error::Path)?
            .append2(COLLECTION_INTERFACE, "Locked"),
    )?;
    let session = found.session.clone();
    let key = found.derive_key();
    let locked = match reply_to(connection, serial)? {
        Ok(reply) => reply.read1::<Variant<bool>>().map_err(|_| Error::Parse)?.0,
        // Deleted since the alias named it: the store finds out what is there now.
        Err(e) if is_gone_or_locked(&e) => {
            tracing::debug!("keychain: the default collection is gone; written through the store");
            return Ok(Write::Elsewhere);
        }
        Err(e) => return Err(e.into()),
    };
    // Nothing goes out under a key the provider may derive differently (see `derive_key`).
    let key = key?;
    if locked {
        tracing::debug!("keychain: the default collection is locked; written through the store");
        return Ok(Write::Elsewhere);
    }
    let (iv, value) = encrypt(&key, secret)?;
    let attributes: HashMap<String, String> = attributes
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut properties: HashMap<&str, Variant<Box<dyn RefArg>>> = HashMap::new();
    properties.insert(
        "org.freedesktop.Secret.Item.Label",
        Variant(Box::new(label.to_string())),
    );
    properties.insert(
        "org.freedesktop.Secret.Item.Attributes",
        Variant(Box::new(attributes)),
    );
    let proxy = connection.with_proxy(SERVICE, collection, REPLY_TIMEOUT);
    let (item, prompt): (dbus::Path<'static>, dbus::Path<'static>) = proxy.method_call(
        COLLECTION_INTERFACE,
        "CreateItem",
        (
            properties,
            (session, iv.to_vec(), value, CONTENT_TYPE.to_string()),
            true,
        ),
    )?;
    if &*item == "/" {
        // The service wants a prompt to create it: not ours to show. Dismissed, so that nothing
        // is created behind the store's back; the store then asks as it always did.
        let _ = connection
            .with_proxy(SERVICE, prompt, REPLY_TIMEOUT)
            .method_call::<(), _, _, _>(PROMPT_INTERFACE, "Dismiss", ());
        tracing::debug!("keychain: creating the item needs a prompt; written through the store");
        return Ok(Write::Elsewhere);
    }
    crate::logging::phase!("keychain: item created");
    Ok(Write::Created)
}

/// AES-128-CBC with PKCS#7 padding under a fresh random IV: the IV and the ciphertext.
fn encrypt(key: &[u8; 16], secret: &[u8]) -> Result<([u8; 16], Vec<u8>), Error> {
    let mut iv = [0u8; 16];
    getrandom::fill(&mut iv)
        .map_err(|e| Error::Crypto(format!("no randomness for the IV: {e}").into()))?;
    let value = cbc::Encryptor::<aes::Aes128>::new(key.into(), (&iv).into())
        .encrypt_padded_vec_mut::<Pkcs7>(secret);
    Ok((iv, value))
}

/// `OpenSession` of our algorithm with our public value.
fn open_session(pair: &KeyPair) -> Result<Message, Error> {
    Ok(
        Message::new_method_call(SERVICE, SERVICE_PATH, SERVICE_INTERFACE, "OpenSession")
            .map_err(Error::Path)?
            .append2(
                ALGORITHM,
                Variant(Box::new(pair.public.to_vec()) as Box<dyn RefArg>),
            ),
    )
}

fn is_gone_or_locked(e: &dbus::Error) -> bool {
    matches!(
        e.name(),
        Some(
            "org.freedesktop.DBus.Error.UnknownObject"
                | "org.freedesktop.Secret.Error.NoSuchObject"
                | "org.freedesktop.Secret.Error.IsLocked"
        )
    )
}

/// Sends `request` without waiting for its reply; its serial, for [`reply_to`].
fn send(connection: &Connection, request: Message) -> Result<u32, Error> {
    let channel = connection.channel();
    let serial = channel
        .send(request)
        .map_err(|()| dbus::Error::new_failed("cannot send to the session bus"))?;
    channel.flush();
    Ok(serial)
}

/// The reply to the request sent as `serial`: the method's return or its error. The outer
/// error is the connection's, or no reply within [`REPLY_TIMEOUT`].
fn reply_to(connection: &Connection, serial: u32) -> Result<Result<Message, dbus::Error>, Error> {
    let ((), mut message) =
        direct_search::next_reply(connection, |replied| (replied == serial).then_some(()))?;
    Ok(message.as_result().map(|_| ()).map(|()| message))
}

/// Our private exponent ([`EXPONENT_BITS`] from the OS's CSPRNG, at least 2) and public value
/// 2^x mod p, big-endian and left-padded to the prime's size: the specification's value is 128
/// bytes, and KWallet refuses any other length ("Client public key size is invalid").
fn key_pair() -> Result<KeyPair, Error> {
    let mut bytes = Zeroizing::new([0u8; GROUP_BYTES]);
    let private = loop {
        getrandom::fill(&mut bytes[GROUP_BYTES - EXPONENT_BITS / 8..])
            .map_err(|e| Error::Crypto(format!("no randomness for the session key: {e}").into()))?;
        let private = Zeroizing::new(U1024::from_be_slice(bytes.as_slice()));
        // 0 and 1 (one chance in 2^255) would give the key away.
        if *private >= U1024::from_u8(2) {
            break private;
        }
    };
    let public = power(&U1024::from_u8(2), &private).to_be_bytes();
    Ok(KeyPair { private, public })
}

/// base^exponent mod p for an exponent below 2^[`EXPONENT_BITS`], in time that does not depend
/// on the exponent's value (crypto-bigint's fixed-window Montgomery ladder over all
/// [`EXPONENT_BITS`] bits). The result is wiped when dropped.
fn power(base: &U1024, exponent: &U1024) -> Zeroizing<U1024> {
    debug_assert!(exponent.bits_vartime() <= EXPONENT_BITS);
    let mut residue = DynResidue::new(base, *GROUP).pow_bounded_exp(exponent, EXPONENT_BITS);
    let value = Zeroizing::new(residue.retrieve());
    residue.zeroize();
    value
}

/// A session's AES key, and whether the shared secret it came from starts with a zero byte.
struct Derived {
    key: Zeroizing<[u8; 16]>,
    leading_zero: bool,
}

/// The AES key from our private exponent and the service's public value: HKDF-SHA256 with no
/// salt and empty info, of the shared secret as a big-endian number left-padded to the prime's
/// size, 16 bytes out (the specification's `dh-ietf1024-sha256-aes128-cbc-pkcs7`; libsecret and
/// gnome-keyring do the same).
fn derive_key(private: &U1024, theirs: &[u8]) -> Result<Derived, Error> {
    let invalid = || Error::Crypto("the Secret Service sent an invalid public key".into());
    // Read as a number, whatever its leading zeros: gnome-keyring sends its value without
    // them (shorter than 128 bytes one time in 256) and KWallet with a sign byte (QCA's two's
    // complement: 129 bytes when the top bit is set); libsecret accepts both. Past the zeros,
    // at most the prime's size.
    let significant = &theirs[theirs.iter().take_while(|b| **b == 0).count()..];
    if significant.len() > GROUP_BYTES {
        return Err(invalid());
    }
    let mut padded = [0u8; GROUP_BYTES];
    padded[GROUP_BYTES - significant.len()..].copy_from_slice(significant);
    let theirs = U1024::from_be_slice(&padded);
    // 0, 1, p-1 and anything from p on would make the shared secret guessable: [2, p-2] only.
    let two = U1024::from_u8(2);
    if theirs < two || theirs > prime().wrapping_sub(&two) {
        return Err(invalid());
    }
    let shared = power(&theirs, private);
    let bytes = Zeroizing::new(shared.to_be_bytes());
    let mut key = Zeroizing::new([0u8; 16]);
    hkdf::Hkdf::<sha2::Sha256>::new(None, bytes.as_slice())
        .expand(&[], key.as_mut_slice())
        .map_err(|_| Error::Crypto("cannot derive the session key".into()))?;
    Ok(Derived {
        key,
        leading_zero: bytes[0] == 0,
    })
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
    use super::*;

    fn number(byte: u8) -> U1024 {
        U1024::from_be_slice(&[byte; GROUP_BYTES])
    }

    /// A private exponent: [`EXPONENT_BITS`] bits, each byte `byte`.
    fn exponent(byte: u8) -> U1024 {
        let mut bytes = [0u8; GROUP_BYTES];
        bytes[GROUP_BYTES - EXPONENT_BITS / 8..].fill(byte);
        U1024::from_be_slice(&bytes)
    }

    fn public(private: &U1024) -> [u8; GROUP_BYTES] {
        power(&U1024::from_u8(2), private).to_be_bytes()
    }

    /// The textbook square-and-multiply (the store crate's method) gives what `power` gives.
    fn schoolbook(base: &U1024, exponent: &U1024) -> U1024 {
        let p = prime();
        let mul_mod = |a: &U1024, b: &U1024| U1024::const_rem_wide(a.mul_wide(b), &p).0;
        let mut result = U1024::ONE;
        for bit in (0..1024).rev() {
            result = mul_mod(&result, &result);
            if exponent.bit_vartime(bit) {
                result = mul_mod(&result, base);
            }
        }
        result
    }

    #[test]
    fn the_montgomery_power_agrees_with_square_and_multiply() {
        let exponent = exponent(0x3c);
        for base in [U1024::from_u8(2), number(0x5a).wrapping_sub(&U1024::ONE)] {
            assert_eq!(*power(&base, &exponent), schoolbook(&base, &exponent));
        }
    }

    /// Both sides of one exchange, computed here: the keys agree, and a secret encrypted with
    /// one is read back with the other.
    #[test]
    fn both_sides_derive_the_same_key_and_a_secret_round_trips() {
        let ours = exponent(0x5a);
        let theirs = exponent(0xa5);
        let key = derive_key(&ours, &public(&theirs)).unwrap().key;
        assert_eq!(*key, *derive_key(&theirs, &public(&ours)).unwrap().key);

        let iv = [7u8; 16];
        let secret = b"flux_dev_abc123def456ghi789jkl012mno34";
        let sealed = cbc::Encryptor::<aes::Aes128>::new((&*key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<Pkcs7>(secret);
        assert_ne!(sealed.as_slice(), secret.as_slice());
        assert_eq!(decrypt(&key, &iv, &sealed).unwrap().as_slice(), secret);
        // Another key, or an IV of the wrong size, is refused rather than misread.
        let other = derive_key(&ours, &public(&ours)).unwrap().key;
        assert!(decrypt(&other, &iv, &sealed).is_err_and(|e| matches!(e, Error::Crypto(_))));
        assert!(decrypt(&key, &iv[..8], &sealed).is_err());
    }

    /// Fresh key pairs: 128-byte public values (KWallet refuses anything else), different
    /// every time, and each agrees with the other side.
    #[test]
    fn key_pairs_are_fresh_and_their_public_values_128_bytes() {
        let theirs = exponent(0xa5);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..16 {
            let pair = key_pair().unwrap();
            assert!(pair.private.bits_vartime() <= EXPONENT_BITS);
            assert!(*pair.private >= U1024::from_u8(2));
            assert_eq!(pair.public, public(&pair.private));
            assert!(seen.insert(pair.public), "a key pair came twice");
            assert_eq!(
                *derive_key(&pair.private, &public(&theirs)).unwrap().key,
                *derive_key(&theirs, &pair.public).unwrap().key
            );
        }
        // 2^1000 < p: its minimal big-endian form is 126 bytes; it still goes out as 128.
        let short = public(&U1024::from_u16(1000));
        assert_eq!(&short[..3], &[0, 0, 1]);
    }

    /// The service's value is a number: leading zeros (KWallet's sign byte) or none
    /// (gnome-keyring's unpadded form) give the same key.
    #[test]
    fn the_services_public_value_is_read_as_a_number() {
        let ours = exponent(0x5a);
        let valid = public(&exponent(0xa5));
        let key = derive_key(&ours, &valid).unwrap().key;
        let mut signed = vec![0u8];
        signed.extend_from_slice(&valid);
        assert_eq!(*key, *derive_key(&ours, &signed).unwrap().key);
        let short = public(&U1024::from_u16(1000));
        assert_eq!(
            *derive_key(&ours, &short).unwrap().key,
            *derive_key(&ours, &short[2..]).unwrap().key
        );
    }

    /// 0, 1, p-1 and p (and anything longer than the prime) would give the shared secret
    /// away or are not in the group: refused. 2 and p-2 are the ends of what is accepted.
    #[test]
    fn public_values_that_would_give_away_the_key_are_refused() {
        let ours = exponent(0x5a);
        let p = prime();
        let minus = |n: u8| p.wrapping_sub(&U1024::from_u8(n)).to_be_bytes().to_vec();
        let mut longer = vec![1u8];
        longer.extend_from_slice(&public(&exponent(0xa5)));
        for theirs in [
            Vec::new(),
            vec![0u8],
            vec![0u8; GROUP_BYTES],
            vec![1],
            minus(1),
            p.to_be_bytes().to_vec(),
            vec![0xff; GROUP_BYTES],
            longer,
            vec![0xff; GROUP_BYTES + 1],
        ] {
            assert!(
                derive_key(&ours, &theirs).is_err_and(|e| matches!(e, Error::Crypto(_))),
                "{} bytes: {:02x?}",
                theirs.len(),
                &theirs[..theirs.len().min(4)]
            );
        }
        assert!(derive_key(&ours, &[2]).is_ok());
        assert!(derive_key(&ours, &minus(2)).is_ok());
    }

    /// The specification's derivation: HKDF-SHA256, no salt, empty info, of the shared secret
    /// padded to 128 bytes; a shared secret with a leading zero byte is flagged (`read` then
    /// refuses the session).
    #[test]
    fn the_key_is_hkdf_of_the_padded_shared_secret() {
        // Their value 2 and our exponent 1000: the shared secret is 2^1000, 126 bytes.
        let derived = derive_key(&U1024::from_u16(1000), &[2]).unwrap();
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
            !derive_key(&U1024::from_u16(1023), &[2])
                .unwrap()
                .leading_zero
        );
    }

    /// What `create` sends decrypts, on the service's side, to the secret; each write has an IV
    /// of its own.
    #[test]
    fn a_written_secret_decrypts_with_the_same_key_under_a_fresh_iv() {
        let key = [9u8; 16];
        let secret = b"flux_dev_abc123def456ghi789jkl012mno34";
        let (iv, sealed) = encrypt(&key, secret).unwrap();
        assert_ne!(sealed.as_slice(), secret.as_slice());
        assert_eq!(sealed.len() % 16, 0);
        assert_eq!(decrypt(&key, &iv, &sealed).unwrap().as_slice(), secret);
        let (other_iv, other) = encrypt(&key, secret).unwrap();
        assert_ne!(iv, other_iv);
        assert_ne!(sealed, other);
    }

    /// Whatever the service sends, a bad secret is an error (a refused session upstream, which
    /// `KeyringStore::run_lazily` tries again on a fresh one), never a panic and never a misread.
    #[test]
    fn malformed_secrets_fail_closed() {
        let key = [3u8; 16];
        let iv = [7u8; 16];
        let sealed = cbc::Encryptor::<aes::Aes128>::new((&key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<Pkcs7>(b"flux_dev_abc123def456ghi789jkl012mno34");
        assert!(decrypt(&key, &iv, &sealed).is_ok());
        for len in [0, 1, 15, 17, 32] {
            assert!(
                decrypt(&key, &vec![7u8; len], &sealed).is_err(),
                "IV of {len}"
            );
        }
        for len in [0, 1, 15, 17, sealed.len() - 1] {
            assert!(decrypt(&key, &iv, &sealed[..len]).is_err(), "{len} bytes");
        }
        let unpadded = cbc::Encryptor::<aes::Aes128>::new((&key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<aes::cipher::block_padding::NoPadding>(&[0u8; 32]);
        assert!(decrypt(&key, &iv, &unpadded).is_err());
        let e = decrypt(&key, &iv, &sealed[..15]).unwrap_err();
        assert!(matches!(
            super::super::secret_service::classify(&e),
            Some(crate::secrets::SecretStoreError::SessionRefused(_))
        ));
    }
}
