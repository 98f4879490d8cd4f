//! A host's name in the mesh is its own: claimed in a JetStream key-value bucket
//! and kept by renewing it.
//!
//! The bucket (`PREFIX_hosts`, dots turned into `_`) forgets an entry [`TTL`] after
//! its last write; a linked host rewrites its entry every [`RENEW`]. So a name is
//! held exactly while its host is alive and linked, and a host that died leaves
//! its name free within [`TTL`]. The entry holds the claimant's *instance*: an id
//! kept in the host's data folder, so a host restarting after a crash (same data
//! folder) takes its own name back at once, while a second host configured with
//! the same name (another data folder) finds it taken and says so.

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::subject::Prefix;

/// How long a claim lasts without renewal.
pub const TTL: Duration = Duration::from_secs(15);
/// How often a held claim is renewed.
pub const RENEW: Duration = Duration::from_secs(5);

/// What a claim says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    /// The data folder's instance id.
    pub instance: String,
    /// When this claim was first made (RFC 3339).
    pub since: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "mesh name `{name}` is held by another live host (instance {}, since {}): give this host another [mesh] name, or stop the other",
        holder.instance,
        holder.since
    )]
    Taken { name: String, holder: Holder },
    #[error("cannot claim mesh name `{name}` in bucket `{bucket}`: {reason}")]
    Nats {
        name: String,
        bucket: String,
        reason: String,
    },
}

/// This host's instance id, kept in `data/mesh-instance` (made on first use,
/// fsynced with its folder, so it survives a crash right after).
pub fn instance(data: &Path) -> std::io::Result<String> {
    let path = data.join("mesh-instance");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(data)?;
    let id = uuid::Uuid::new_v4().to_string();
    let tmp = data.join(".mesh-instance.tmp");
    let file = std::fs::File::create(&tmp)?;
    std::io::Write::write_all(&mut &file, id.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(data)?.sync_all()?;
    Ok(id)
}

/// The bucket's name for a prefix.
pub fn bucket_name(prefix: &Prefix) -> String {
    format!("{}_hosts", prefix.as_str().replace('.', "_"))
}

/// The bucket, made if missing.
pub async fn bucket(
    js: &jetstream::Context,
    prefix: &Prefix,
    replicas: usize,
) -> Result<kv::Store, String> {
    let name = bucket_name(prefix);
    match js.get_key_value(&name).await {
        Ok(store) => Ok(store),
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: name.clone(),
                description: "weft hosts' mesh names, each held while its host is linked".into(),
                history: 1,
                max_age: TTL,
                num_replicas: replicas,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot create the key-value bucket `{name}`: {e}")),
    }
}

/// A name held by this host: renew it every [`RENEW`].
#[derive(Debug)]
pub struct Claim {
    pub name: String,
    revision: u64,
    value: Bytes,
}

/// Claims `name` for `instance`: free, or held by this same instance before a
/// restart.
pub async fn claim(store: &kv::Store, name: &str, instance: &str) -> Result<Claim, ClaimError> {
    let nats = |reason: String| ClaimError::Nats {
        name: name.to_owned(),
        bucket: store.name.clone(),
        reason,
    };
    let value = |since: String| {
        Bytes::from(
            serde_json::to_vec(&Holder {
                instance: instance.to_owned(),
                since,
            })
            .unwrap_or_default(),
        )
    };
    let fresh = value(crate::status::now());
    match store.create(name, fresh.clone()).await {
        Ok(revision) => {
            return Ok(Claim {
                name: name.to_owned(),
                revision,
                value: fresh,
            });
        }
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
        Err(e) => return Err(nats(e.to_string())),
    }
    let entry = store
        .entry(name)
        .await
        .map_err(|e| nats(e.to_string()))?
        .ok_or_else(|| nats("the entry vanished while it was read; trying again".into()))?;
    let holder: Holder = serde_json::from_slice(&entry.value).map_err(|_| ClaimError::Taken {
        name: name.to_owned(),
        holder: Holder {
            instance: "(not a weft claim)".into(),
            since: "?".into(),
        },
    })?;
    if holder.instance != instance {
        return Err(ClaimError::Taken {
            name: name.to_owned(),
            holder,
        });
    }
    // Ours, from before a restart: take it back, keeping when it was first made.
    let value = value(holder.since);
    let revision = store
        .update(name, value.clone(), entry.revision)
        .await
        .map_err(|e| nats(e.to_string()))?;
    Ok(Claim {
        name: name.to_owned(),
        revision,
        value,
    })
}

impl Claim {
    /// Rewrites the entry, only if it is still ours (its revision is the last one
    /// this host wrote). A claim that expired while the link was down and was
    /// taken by another host is lost: `Taken`.
    pub async fn renew(&mut self, store: &kv::Store) -> Result<(), ClaimError> {
        match store
            .update(&self.name, self.value.clone(), self.revision)
            .await
        {
            Ok(revision) => {
                self.revision = revision;
                Ok(())
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                let holder = match store.entry(&self.name).await {
                    Ok(Some(entry)) => serde_json::from_slice(&entry.value).ok(),
                    _ => None,
                };
                match holder {
                    // Expired and free again (or re-made by this instance): claim anew.
                    None => self.reclaim(store).await,
                    Some(h) => Err(ClaimError::Taken {
                        name: self.name.clone(),
                        holder: h,
                    }),
                }
            }
            Err(e) => Err(ClaimError::Nats {
                name: self.name.clone(),
                bucket: store.name.clone(),
                reason: e.to_string(),
            }),
        }
    }

    async fn reclaim(&mut self, store: &kv::Store) -> Result<(), ClaimError> {
        let holder: Holder = serde_json::from_slice(&self.value).map_err(|e| ClaimError::Nats {
            name: self.name.clone(),
            bucket: store.name.clone(),
            reason: e.to_string(),
        })?;
        *self = claim(store, &self.name, &holder.instance).await?;
        Ok(())
    }

    /// Gives the name up at a clean stop, so a successor need not wait for it to
    /// expire.
    pub async fn release(self, store: &kv::Store) {
        if let Err(e) = store
            .delete_expect_revision(&self.name, Some(self.revision))
            .await
        {
            tracing::debug!(error = %e, "mesh: the name's claim was not released (it expires by itself)");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_instance_id_is_kept_in_the_data_folder() {
        let dir = tempfile::tempdir().unwrap();
        let a = instance(dir.path()).unwrap();
        assert_eq!(instance(dir.path()).unwrap(), a, "the same after a restart");
        let other = tempfile::tempdir().unwrap();
        assert_ne!(instance(other.path()).unwrap(), a);
        assert_eq!(
            bucket_name(&Prefix::parse("acme.weft").unwrap()),
            "acme_weft_hosts"
        );
    }
}
