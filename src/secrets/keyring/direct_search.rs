//! The listing of `logout --all` and `list --check` on Linux over one D-Bus connection, with no
//! Secret Service session (no secret is read) and the per-item calls pipelined: every request of
//! a step is sent before the first reply is read, so 200 items cost a few round trips, not 400.
//! (Deletions stay one at a time through the store: see `KeyringStore::delete_all`.)
//!
//! Through the store, each item cost two sequential calls (an unlock check and the attributes)
//! after a connection with a Diffie-Hellman session. Only the plain case is taken here: no
//! collection locked and no item locked. Anything else is [`Search::Elsewhere`] and goes through
//! the store as before, with its unlock prompts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dbus::Message;
use dbus::blocking::Connection;
use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
use dbus_secret_service::Error;

const SERVICE: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE_INTERFACE: &str = "org.freedesktop.Secret.Service";
const COLLECTION_INTERFACE: &str = "org.freedesktop.Secret.Collection";
const ITEM_INTERFACE: &str = "org.freedesktop.Secret.Item";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
/// libdbus's default reply timeout, as the store crate's calls have.
const REPLY_TIMEOUT: Duration = Duration::from_secs(25);
/// Requests sent ahead of their replies: well under the bus daemon's limit of pending replies
/// per connection (128 by default, without a configuration that raises it).
const IN_FLIGHT: usize = 32;

/// One item a search found: its object path and its attributes.
pub struct Item {
    pub path: dbus::Path<'static>,
    pub attributes: HashMap<String, String>,
}

pub enum Search {
    /// Every item with these attributes; none of them, and no collection, is locked.
    Found(Vec<Item>),
    /// Something is locked: ask the store, which unlocks (or says it cannot).
    Elsewhere,
}

/// The items whose attributes include `attributes`, when nothing is locked.
pub fn search(connection: &Connection, attributes: &HashMap<&str, &str>) -> Result<Search, Error> {
    if any_collection_locked(connection)? {
        return Ok(Search::Elsewhere);
    }
    let service = connection.with_proxy(SERVICE, SERVICE_PATH, REPLY_TIMEOUT);
    let (unlocked, locked): (Vec<dbus::Path<'static>>, Vec<dbus::Path<'static>>) =
        service.method_call(SERVICE_INTERFACE, "SearchItems", (attributes.clone(),))?;
    if !locked.is_empty() {
        return Ok(Search::Elsewhere);
    }
    let requests = unlocked
        .iter()
        .map(|path| property(path, ITEM_INTERFACE, "Attributes"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut items = Vec::with_capacity(unlocked.len());
    for (path, reply) in unlocked.into_iter().zip(call_all(connection, requests)?) {
        match reply {
            Ok(reply) => {
                let value: dbus::arg::Variant<HashMap<String, String>> =
                    reply.read1().map_err(|_| Error::Parse)?;
                items.push(Item {
                    path,
                    attributes: value.0,
                });
            }
            // Deleted since the search found it: it holds nothing any more.
            Err(e) if is_unknown_object(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Search::Found(items))
}

/// Whether any collection is locked: KeePassXC searches a locked database as if it were empty,
/// so no search is complete until this says no.
fn any_collection_locked(connection: &Connection) -> Result<bool, Error> {
    let service = connection.with_proxy(SERVICE, SERVICE_PATH, REPLY_TIMEOUT);
    let collections: Vec<dbus::Path<'static>> =
        Properties::get(&service, SERVICE_INTERFACE, "Collections")?;
    let requests = collections
        .iter()
        .map(|path| property(path, COLLECTION_INTERFACE, "Locked"))
        .collect::<Result<Vec<_>, _>>()?;
    for reply in call_all(connection, requests)? {
        match reply {
            Ok(reply) => {
                let locked: dbus::arg::Variant<bool> = reply.read1().map_err(|_| Error::Parse)?;
                if locked.0 {
                    return Ok(true);
                }
            }
            // Deleted since it was listed: it holds nothing.
            Err(e) if is_unknown_object(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

fn property(path: &dbus::Path<'static>, interface: &str, name: &str) -> Result<Message, Error> {
    Ok(Message::new_method_call(SERVICE, path, PROPERTIES, "Get")
        .map_err(Error::Path)?
        .append2(interface, name))
}

fn is_unknown_object(e: &dbus::Error) -> bool {
    e.name() == Some("org.freedesktop.DBus.Error.UnknownObject")
}

/// Sends the requests without waiting for each reply, at most [`IN_FLIGHT`] unanswered at a
/// time, and returns their replies in order: a few round trips for all of them. Each reply is
/// the method's return, or its error; the whole fails if the connection does, or if a reply
/// does not come within [`REPLY_TIMEOUT`].
pub fn call_all(
    connection: &Connection,
    requests: Vec<Message>,
) -> Result<Vec<Result<Message, dbus::Error>>, Error> {
    let channel = connection.channel();
    let count = requests.len();
    let mut pending = requests.into_iter();
    let mut sent = 0;
    let mut awaited: HashMap<u32, usize> = HashMap::with_capacity(IN_FLIGHT);
    let mut replies: Vec<Option<Message>> = (0..count).map(|_| None).collect();
    let mut answered = 0;
    while answered < count {
        while awaited.len() < IN_FLIGHT
            && let Some(request) = pending.next()
        {
            let serial = channel
                .send(request)
                .map_err(|()| dbus::Error::new_failed("cannot send to the session bus"))?;
            awaited.insert(serial, sent);
            sent += 1;
        }
        channel.flush();
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let reply = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(dbus::Error::new_custom(
                    "org.freedesktop.DBus.Error.NoReply",
                    "the Secret Service did not answer in time",
                )
                .into());
            }
            if let Some(message) = channel.blocking_pop_message(left)?
                && let Some(index) = message
                    .get_reply_serial()
                    .and_then(|serial| awaited.remove(&serial))
            {
                break (index, message);
            }
        };
        replies[reply.0] = Some(reply.1);
        answered += 1;
    }
    Ok(replies
        .into_iter()
        .map(|reply| {
            let mut reply = reply.expect("every request has its reply");
            reply.as_result().map(|_| ())?;
            Ok(reply)
        })
        .collect())
}
