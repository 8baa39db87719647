//! Private channels, and who may be in them: the authorization half of the lab.
//!
//! Two kinds of channel, both enforced here, by the server, from the identity the handshake
//! verified (never from anything a message claims):
//!
//! - a **direct** channel between exactly two users, named after them (`dm:alice:bob`, the
//!   names sorted), so both compute the same name and nobody else can be added;
//! - an invite-only **group**, with an owner who alone may invite.
//!
//! A user who is not a member gets the same answer whether the channel exists or not
//! ("no such channel, or you are not a member"), so a refusal tells nothing about other
//! people's traffic. The registry also keeps each channel's recent history: sealed messages
//! only, since the server never had anything else. Chapter 8 ("Private messaging") explains it.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// How many sealed messages a channel keeps for members who join later. A real service
/// stores them in a database, with a retention policy.
pub const HISTORY: usize = 100;

/// Why a channel operation was refused; the text is what the client reads.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChannelError {
    /// The channel does not exist, or the user is not in it: deliberately one answer.
    #[error("no such channel, or you are not a member")]
    NotAMember,
    /// A direct channel needs another user.
    #[error("a direct channel needs two different users")]
    WithYourself,
    /// The user named does not exist.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// Only a group's owner may invite.
    #[error("only the group's owner may invite")]
    NotTheOwner,
    /// Direct channels have exactly two members, forever.
    #[error("a direct channel has exactly two members")]
    DirectIsClosed,
    /// A sealed copy was addressed to someone outside the channel, or to the sender.
    #[error("recipient {0:?} is not another member of this channel")]
    NotARecipient(String),
}

/// Direct or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Exactly two users.
    Direct,
    /// Invite-only, any size.
    Group,
}

/// One sealed message, as the server stores and relays it: routing data in clear, content
/// encrypted for one recipient. `iv` and `ciphertext` are base64; the server cannot read them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The channel it was sent in.
    pub channel: String,
    /// The sender, as the server authenticated it (not as the sender claimed).
    pub from: String,
    /// The one recipient this copy is encrypted for.
    pub to: String,
    /// The sender's sequence number, inside the authenticated data: replays are detectable.
    pub seq: u64,
    /// AES-GCM's 12-byte nonce, base64.
    pub iv: String,
    /// The ciphertext followed by GCM's 16-byte tag, base64.
    pub ciphertext: String,
}

/// A channel: its kind, owner, members and recent history.
#[derive(Clone, Debug, Serialize)]
pub struct Channel {
    /// Its name: `dm:<a>:<b>` or `group:<name>`.
    pub name: String,
    /// Direct or group.
    pub kind: Kind,
    /// Who created it; for a group, the only user allowed to invite.
    pub owner: String,
    /// Who may join, send and receive.
    pub members: BTreeSet<String>,
    /// The last [`HISTORY`] sealed messages.
    #[serde(skip)]
    pub history: VecDeque<Sealed>,
}

// ANCHOR: direct_name
/// The name of the direct channel between `a` and `b`: the same whoever opens it.
pub fn direct_name(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("dm:{first}:{second}")
}
// ANCHOR_END: direct_name

/// Every channel of the server.
#[derive(Debug, Default)]
pub struct Channels {
    /// By name.
    by_name: HashMap<String, Channel>,
}

impl Channels {
    /// Opens (or finds) the direct channel between `me` and `with`.
    pub fn open_direct(
        &mut self,
        me: &str,
        with: &str,
        known: impl Fn(&str) -> bool,
    ) -> Result<&Channel, ChannelError> {
        if me == with {
            return Err(ChannelError::WithYourself);
        }
        if !known(with) {
            return Err(ChannelError::UnknownUser(with.to_owned()));
        }
        let name = direct_name(me, with);
        Ok(self.by_name.entry(name.clone()).or_insert_with(|| Channel {
            name,
            kind: Kind::Direct,
            owner: me.to_owned(),
            members: [me.to_owned(), with.to_owned()].into(),
            history: VecDeque::new(),
        }))
    }

    /// Creates the group `group:<name>` owned by `owner`, with `invited` in it. A group
    /// name already taken is refused with the same answer as a group you may not see.
    pub fn create_group(
        &mut self,
        owner: &str,
        name: &str,
        invited: &[String],
        known: impl Fn(&str) -> bool,
    ) -> Result<&Channel, ChannelError> {
        if let Some(unknown) = invited.iter().find(|user| !known(user)) {
            return Err(ChannelError::UnknownUser(unknown.clone()));
        }
        let name = format!("group:{name}");
        if self.by_name.contains_key(&name) {
            return Err(ChannelError::NotAMember);
        }
        let mut members: BTreeSet<String> = invited.iter().cloned().collect();
        members.insert(owner.to_owned());
        Ok(self.by_name.entry(name.clone()).or_insert(Channel {
            name,
            kind: Kind::Group,
            owner: owner.to_owned(),
            members,
            history: VecDeque::new(),
        }))
    }

    // ANCHOR: member
    /// The channel `name` if `user` is one of its members; the same refusal otherwise,
    /// whether it exists or not.
    pub fn member(&self, user: &str, name: &str) -> Result<&Channel, ChannelError> {
        self.by_name
            .get(name)
            .filter(|channel| channel.members.contains(user))
            .ok_or(ChannelError::NotAMember)
    }
    // ANCHOR_END: member

    /// `by` invites `user` into the group `name`: only its owner may.
    pub fn invite(
        &mut self,
        by: &str,
        name: &str,
        user: &str,
        known: impl Fn(&str) -> bool,
    ) -> Result<&Channel, ChannelError> {
        let channel = self.member(by, name)?;
        if channel.kind == Kind::Direct {
            return Err(ChannelError::DirectIsClosed);
        }
        if channel.owner != by {
            return Err(ChannelError::NotTheOwner);
        }
        if !known(user) {
            return Err(ChannelError::UnknownUser(user.to_owned()));
        }
        let channel = self.by_name.get_mut(name).ok_or(ChannelError::NotAMember)?;
        channel.members.insert(user.to_owned());
        Ok(channel)
    }

    // ANCHOR: post
    /// Checks that `from` is a member and that every copy goes to another member, then
    /// stores the copies. Returns them, for the caller to deliver.
    pub fn post(&mut self, copies: Vec<Sealed>) -> Result<Vec<Sealed>, ChannelError> {
        let Some(first) = copies.first() else {
            return Ok(copies);
        };
        let (from, name) = (first.from.clone(), first.channel.clone());
        let channel = self
            .by_name
            .get_mut(&name)
            .filter(|channel| channel.members.contains(&from))
            .ok_or(ChannelError::NotAMember)?;
        for copy in &copies {
            let other_member = copy.to != from && channel.members.contains(&copy.to);
            if !other_member || copy.channel != name || copy.from != from {
                return Err(ChannelError::NotARecipient(copy.to.clone()));
            }
        }
        for copy in &copies {
            if channel.history.len() == HISTORY {
                channel.history.pop_front();
            }
            channel.history.push_back(copy.clone());
        }
        Ok(copies)
    }
    // ANCHOR_END: post

    /// Every stored sealed message of every channel: what a database dump would reveal.
    pub fn stored(&self) -> Vec<Sealed> {
        self.by_name
            .values()
            .flat_map(|channel| channel.history.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn known(user: &str) -> bool {
        ["alice", "bob", "carol"].contains(&user)
    }

    /// A direct channel has its two users only; carol is refused like for a missing one.
    #[test]
    fn direct() {
        let mut channels = Channels::default();
        let name = channels
            .open_direct("bob", "alice", known)
            .unwrap()
            .name
            .clone();
        assert_eq!(name, "dm:alice:bob");
        assert!(channels.member("alice", &name).is_ok());
        assert_eq!(
            channels.member("carol", &name).unwrap_err(),
            channels.member("carol", "dm:nobody:else").unwrap_err()
        );
        assert_eq!(
            channels.invite("alice", &name, "carol", known).unwrap_err(),
            ChannelError::DirectIsClosed
        );
    }

    /// Only the owner invites; a copy addressed outside the group is refused.
    #[test]
    fn group() {
        let mut channels = Channels::default();
        channels
            .create_group("alice", "team", &["bob".into()], known)
            .unwrap();
        assert_eq!(
            channels
                .invite("bob", "group:team", "carol", known)
                .unwrap_err(),
            ChannelError::NotTheOwner
        );
        let copy = |to: &str| Sealed {
            channel: "group:team".into(),
            from: "alice".into(),
            to: to.into(),
            seq: 1,
            iv: String::new(),
            ciphertext: String::new(),
        };
        assert_eq!(
            channels.post(vec![copy("carol")]).unwrap_err(),
            ChannelError::NotARecipient("carol".into())
        );
        channels
            .invite("alice", "group:team", "carol", known)
            .unwrap();
        assert_eq!(channels.post(vec![copy("carol")]).unwrap().len(), 1);
    }
}
