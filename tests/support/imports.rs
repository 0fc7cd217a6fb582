//! Signed import files for tests and the import benchmark: MNO / ATRA
//! signing keys (Ed25519, ECDSA P-256) installed in a test database, CSV
//! files and their detached `.sig`.

use std::fmt::Write as _;

use serde_json::json;

use crate::TestDb;

enum Signer {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// A signing key an operator (or ATRA) holds; its public half goes into
/// `mno_signing_keys`.
pub struct MnoKey {
    pub key_id: String,
    signer: Signer,
}

impl MnoKey {
    pub fn ed25519(key_id: &str) -> Self {
        Self {
            key_id: key_id.into(),
            signer: Signer::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng)),
        }
    }

    pub fn p256(key_id: &str) -> Self {
        Self {
            key_id: key_id.into(),
            signer: Signer::P256(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng)),
        }
    }

    /// The `algorithm` of the key row and the `.sig`.
    pub fn algorithm(&self) -> &'static str {
        match self.signer {
            Signer::Ed25519(_) => "ed25519",
            Signer::P256(_) => "ecdsa-p256-sha256",
        }
    }

    /// The public key as SPKI PEM.
    pub fn public_pem(&self) -> String {
        match &self.signer {
            Signer::Ed25519(k) => {
                use ed25519_dalek::pkcs8::{EncodePublicKey, spki::der::pem::LineEnding};
                k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
            }
            Signer::P256(k) => {
                use p256::pkcs8::{EncodePublicKey, LineEnding};
                k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
            }
        }
    }

    /// The raw signature over `bytes` (ECDSA: DER, as openssl writes it).
    pub fn raw_signature(&self, bytes: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(bytes).to_bytes().to_vec()
            }
            Signer::P256(k) => {
                use p256::ecdsa::{Signature, signature::Signer as _};
                let s: Signature = k.sign(bytes);
                s.to_der().as_bytes().to_vec()
            }
        }
    }

    /// The `.sig` file of `bytes`, naming this key.
    pub fn sign(&self, bytes: &[u8]) -> Vec<u8> {
        self.sig_file(&self.key_id, &self.raw_signature(bytes))
    }

    /// A `.sig` naming `key_id` with `raw` as the signature.
    pub fn sig_file(&self, key_id: &str, raw: &[u8]) -> Vec<u8> {
        use base64::Engine;
        json!({
            "key_id": key_id,
            "algorithm": self.algorithm(),
            "signature": base64::engine::general_purpose::STANDARD.encode(raw),
        })
        .to_string()
        .into_bytes()
    }

    /// Installs the public key for `operator` (`None`: ATRA), valid since
    /// yesterday, with no end.
    pub async fn install(&self, db: &TestDb, operator: Option<&str>) {
        self.install_with(db, operator, "now() - interval '1 day'", "NULL", false)
            .await;
    }

    /// Installs the public key with SQL expressions for its validity window,
    /// revoked or not.
    pub async fn install_with(
        &self,
        db: &TestDb,
        operator: Option<&str>,
        valid_from: &str,
        valid_until: &str,
        revoked: bool,
    ) {
        let revoked = if revoked {
            "now(), 'compromised'"
        } else {
            "NULL, NULL"
        };
        sqlx::query(&format!(
            "INSERT INTO numbering.mno_signing_keys \
                 (key_id, operator_id, algorithm, public_key_pem, valid_from, valid_until, revoked_at, revocation_reason) \
             VALUES ($1, $2, $3::numbering.signing_algorithm, $4, {valid_from}, {valid_until}, {revoked})"
        ))
        .bind(&self.key_id)
        .bind(operator)
        .bind(self.algorithm())
        .bind(self.public_pem())
        .execute(&db.owner)
        .await
        .expect("install signing key");
    }
}

pub const MSISDN_HEADER: &str = "msisdn,mcc,mnc,contract_ref,vanity\n";

/// A Roshan MSISDN file: `n` numbers from `+9379` + 7 digits counting from
/// `first`, MCC 412, MNC 40, under `contract`.
pub fn roshan_file(first: u64, n: u64, contract: &str) -> Vec<u8> {
    let mut s = String::with_capacity(MSISDN_HEADER.len() + n as usize * 44);
    s.push_str(MSISDN_HEADER);
    for i in first..first + n {
        let _ = writeln!(s, "+9379{i:07},412,40,{contract},false");
    }
    s.into_bytes()
}
