//! Leases on keys of a KV bucket: at most one holder at a time, lapsing unless renewed.
//!
//! A lease is a key in a KV bucket (Ferry's is `ferry-leases`) whose value is a
//! [`LeaseRecord`] naming the holder and when the lease lapses.
//!
//! * **acquire** writes the key with KV `create`, which fails when the key holds a value. If it
//!   does and that record has lapsed (its holder died without releasing), the new holder takes
//!   it over with `update` on the revision it read, so of two racing successors exactly one
//!   wins. A key removed by the bucket's max age (its TTL, counted from the last write) or by a
//!   release is simply created again.
//! * **renew** rewrites the record with a new expiry by `update` on the revision this holder
//!   wrote last; any other write in between (a takeover) makes it fail with
//!   [`LeaseError::Lost`].
//! * **release** deletes the key expecting this holder's revision, so it never removes a
//!   successor's lease.
//!
//! Expiry compares wall clocks of different replicas: keep the lease TTL well above the clock
//! skew between them and renew at a third of it. The bucket's max age must be at least the
//! longest lease TTL (NATS 2.9 has no per-key TTL), or a held key may vanish before its expiry.

use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use bytes::Bytes;
use ferry_proto::events::v1::LeaseRecord;
use prost::Message as _;

use crate::dead_letter::now_unix_ms;
use crate::error::LeaseError;

/// How often [`Lease::acquire`] retries when the key changes under it.
const ACQUIRE_ATTEMPTS: usize = 4;

/// A held lease; renew it before [`Lease::expires_at_unix_ms`], release it when done.
#[derive(Debug, Clone)]
pub struct Lease {
    kv: kv::Store,
    key: String,
    holder: String,
    ttl: Duration,
    revision: u64,
    expires_at_unix_ms: i64,
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

fn record(holder: &str, now: i64, ttl: Duration) -> LeaseRecord {
    LeaseRecord {
        holder: holder.to_owned(),
        acquired_at_unix_ms: now,
        expires_at_unix_ms: now.saturating_add(ttl_ms(ttl)),
    }
}

impl Lease {
    /// Takes the lease on `key` for `holder` for `ttl`. Fails with [`LeaseError::Held`] while
    /// another holder's lease has not lapsed.
    pub async fn acquire(
        kv: &kv::Store,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        let mut last_seen: Option<LeaseRecord> = None;
        for _ in 0..ACQUIRE_ATTEMPTS {
            let now = now_unix_ms();
            let mine = record(holder, now, ttl);
            let value = Bytes::from(mine.encode_to_vec());
            match kv.create(key, value.clone()).await {
                Ok(revision) => return Ok(Self::held(kv, key, mine, ttl, revision)),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == CreateErrorKind::InvalidKey => {
                    return Err(LeaseError::InvalidKey {
                        key: key.to_owned(),
                    });
                }
                Err(source) => {
                    return Err(LeaseError::Create {
                        key: key.to_owned(),
                        source,
                    });
                }
            }
            let entry = kv.entry(key).await.map_err(|source| LeaseError::Read {
                key: key.to_owned(),
                source,
            })?;
            let Some(entry) = entry else { continue };
            if matches!(entry.operation, Operation::Delete | Operation::Purge) {
                continue;
            }
            let current =
                LeaseRecord::decode(entry.value.as_ref()).map_err(|source| LeaseError::Decode {
                    key: key.to_owned(),
                    source,
                })?;
            if current.expires_at_unix_ms > now {
                return Err(LeaseError::Held {
                    key: key.to_owned(),
                    holder: current.holder,
                    expires_at_unix_ms: current.expires_at_unix_ms,
                });
            }
            last_seen = Some(current);
            match kv.update(key, value, entry.revision).await {
                Ok(revision) => return Ok(Self::held(kv, key, mine, ttl, revision)),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                Err(source) => {
                    return Err(LeaseError::Update {
                        key: key.to_owned(),
                        source,
                    });
                }
            }
        }
        Err(match last_seen {
            Some(current) => LeaseError::Held {
                key: key.to_owned(),
                holder: current.holder,
                expires_at_unix_ms: current.expires_at_unix_ms,
            },
            None => LeaseError::Lost {
                key: key.to_owned(),
            },
        })
    }

    fn held(kv: &kv::Store, key: &str, mine: LeaseRecord, ttl: Duration, revision: u64) -> Self {
        Self {
            kv: kv.clone(),
            key: key.to_owned(),
            holder: mine.holder,
            ttl,
            revision,
            expires_at_unix_ms: mine.expires_at_unix_ms,
        }
    }

    /// Extends the lease by its TTL from now. Fails with [`LeaseError::Lost`] when someone
    /// else wrote the key since (a takeover after expiry, or a release).
    pub async fn renew(&mut self) -> Result<(), LeaseError> {
        let mine = record(&self.holder, now_unix_ms(), self.ttl);
        match self
            .kv
            .update(&self.key, Bytes::from(mine.encode_to_vec()), self.revision)
            .await
        {
            Ok(revision) => {
                self.revision = revision;
                self.expires_at_unix_ms = mine.expires_at_unix_ms;
                Ok(())
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(LeaseError::Lost {
                key: self.key.clone(),
            }),
            Err(source) => Err(LeaseError::Update {
                key: self.key.clone(),
                source,
            }),
        }
    }

    /// Gives the lease up at once (delete expecting this holder's revision). Fails with
    /// [`LeaseError::Lost`] when someone else holds it by now; their lease is left alone.
    pub async fn release(self) -> Result<(), LeaseError> {
        match self
            .kv
            .delete_expect_revision(&self.key, Some(self.revision))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                Err(LeaseError::Lost { key: self.key })
            }
            Err(source) => Err(LeaseError::Release {
                key: self.key,
                source,
            }),
        }
    }

    /// The leased key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Who holds it.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The TTL each acquire or renew grants.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The KV revision this holder wrote last.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// When the lease lapses unless renewed (Unix milliseconds).
    pub fn expires_at_unix_ms(&self) -> i64 {
        self.expires_at_unix_ms
    }
}
