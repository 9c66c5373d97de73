//! The listing of `logout --all` and `list --check` on Linux over one D-Bus connection, with no
//! Secret Service session (no secret is read) and the per-item calls pipelined: every request of
//! a step is sent before the first reply is read, so 200 items cost a few round trips, not 400.
//! `logout --all` deletes the items it found the same way, by object path, in batches
//! ([`delete_items`]); an item that asks for a prompt or is locked goes to the store.
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

// The Secret Service's names, for this module and `direct_read`.
pub(super) const SERVICE: &str = "org.freedesktop.secrets";
pub(super) const SERVICE_PATH: &str = "/org/freedesktop/secrets";
pub(super) const SERVICE_INTERFACE: &str = "org.freedesktop.Secret.Service";
pub(super) const COLLECTION_INTERFACE: &str = "org.freedesktop.Secret.Collection";
pub(super) const ITEM_INTERFACE: &str = "org.freedesktop.Secret.Item";
pub(super) const PROMPT_INTERFACE: &str = "org.freedesktop.Secret.Prompt";
pub(super) const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
/// libdbus's default reply timeout, as the store crate's calls have (our own bound, the
/// caller's, is shorter).
pub(super) const REPLY_TIMEOUT: Duration = Duration::from_secs(25);
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

/// What one `Item.Delete` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted: the service answered with no prompt.
    Done,
    /// No such item any more: deleted meanwhile.
    Gone,
    /// Not deleted: the service wants a prompt, or the item is locked. The store's own delete
    /// goes through its prompt or unlock.
    NeedsStore,
}

/// Deletes the items at `paths`, every request sent before the first reply is read (at most
/// [`IN_FLIGHT`] unanswered at a time); `answered(index, deletion)` is told each one as its
/// reply comes in, so that when the connection fails part way the ones answered are known.
pub fn delete_items(
    connection: &Connection,
    paths: &[dbus::Path<'static>],
    answered: &mut dyn FnMut(usize, Deletion),
) -> Result<(), Error> {
    let requests = paths
        .iter()
        .map(|path| {
            Message::new_method_call(SERVICE, path, ITEM_INTERFACE, "Delete").map_err(Error::Path)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A service that stopped answering (stopped, or hung) must not get deletions queued that
    // it would carry out once it resumes, after this run has said those profiles remain: it
    // is asked first whether it answers at all.
    connection
        .with_proxy(SERVICE, SERVICE_PATH, REPLY_TIMEOUT)
        .method_call::<(), _, _, _>("org.freedesktop.DBus.Peer", "Ping", ())?;
    // Prompts the service asked for, dismissed once every reply is in (a call made while
    // `call_each` reads replies could take one of them): the store deletes those items later,
    // asking as it always did.
    let mut prompts = Vec::new();
    let result = call_each(connection, requests, &mut |index, reply| {
        let deletion = match reply {
            Ok(reply) => {
                let prompt: dbus::Path<'static> = reply.read1().map_err(|_| Error::Parse)?;
                if &*prompt == "/" {
                    Deletion::Done
                } else {
                    prompts.push(prompt);
                    Deletion::NeedsStore
                }
            }
            Err(e) if is_unknown_object(&e) => Deletion::Gone,
            Err(e) if e.name() == Some("org.freedesktop.Secret.Error.IsLocked") => {
                Deletion::NeedsStore
            }
            Err(e) => return Err(e.into()),
        };
        answered(index, deletion);
        Ok(())
    });
    for prompt in prompts {
        let _ = connection
            .with_proxy(SERVICE, prompt, REPLY_TIMEOUT)
            .method_call::<(), _, _, _>(PROMPT_INTERFACE, "Dismiss", ());
    }
    result
}

/// Sends the requests without waiting for each reply, at most [`IN_FLIGHT`] unanswered at a
/// time, and returns their replies in order: a few round trips for all of them. Each reply is
/// the method's return, or its error; the whole fails if the connection does, or if a reply
/// does not come within [`REPLY_TIMEOUT`].
pub fn call_all(
    connection: &Connection,
    requests: Vec<Message>,
) -> Result<Vec<Result<Message, dbus::Error>>, Error> {
    let mut replies: Vec<Option<Result<Message, dbus::Error>>> =
        (0..requests.len()).map(|_| None).collect();
    call_each(connection, requests, &mut |index, reply| {
        replies[index] = Some(reply);
        Ok(())
    })?;
    Ok(replies
        .into_iter()
        .map(|reply| reply.expect("every request has its reply"))
        .collect())
}

/// The next reply that `wanted` recognises by the serial of its request (and what `wanted` gives
/// for it); other messages are passed over. Fails if the connection does, or if no such reply
/// comes within [`REPLY_TIMEOUT`].
pub(super) fn next_reply<T>(
    connection: &Connection,
    mut wanted: impl FnMut(u32) -> Option<T>,
) -> Result<(T, Message), Error> {
    let channel = connection.channel();
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(dbus::Error::new_custom(
                "org.freedesktop.DBus.Error.NoReply",
                "the Secret Service did not answer in time",
            )
            .into());
        }
        if let Some(message) = channel.blocking_pop_message(left)?
            && let Some(found) = message.get_reply_serial().and_then(&mut wanted)
        {
            return Ok((found, message));
        }
    }
}

/// [`call_all`], handing each reply (by the index of its request) to `on_reply` as it comes
/// in; stops at the first error `on_reply` returns.
fn call_each(
    connection: &Connection,
    requests: Vec<Message>,
    on_reply: &mut dyn FnMut(usize, Result<Message, dbus::Error>) -> Result<(), Error>,
) -> Result<(), Error> {
    let channel = connection.channel();
    let count = requests.len();
    let mut pending = requests.into_iter();
    let mut sent = 0;
    let mut awaited: HashMap<u32, usize> = HashMap::with_capacity(IN_FLIGHT);
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
        let (index, mut reply) = next_reply(connection, |serial| awaited.remove(&serial))?;
        answered += 1;
        let result = reply.as_result().map(|_| ());
        on_reply(index, result.map(|()| reply))?;
    }
    Ok(())
}
