//! Detached signatures of import files (SPEC §11): the `<file>.sig` JSON
//! `{"key_id", "algorithm", "signature"}` and the check of the signature
//! over the exact file bytes with the signer's public key (SPKI PEM).

use base64::{
    Engine,
    alphabet::STANDARD,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use serde::Deserialize;

/// The largest `.sig` file accepted: a key id, an algorithm name and a
/// base64 signature of at most 72 bytes fit many times over.
pub const MAX_SIGNATURE_FILE: usize = 4096;

/// Standard base64, with or without padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A signature algorithm of `mno_signing_keys.algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Ed25519,
    /// ECDSA over P-256 with SHA-256; the signature DER-encoded (as
    /// `openssl dgst -sha256 -sign` writes it) or raw `r ‖ s` (64 bytes).
    EcdsaP256Sha256,
}

impl Algorithm {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ed25519" => Some(Self::Ed25519),
            "ecdsa-p256-sha256" => Some(Self::EcdsaP256Sha256),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        }
    }
}

/// Why a `.sig` file or a public key is not usable, or a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature file is larger than {MAX_SIGNATURE_FILE} bytes")]
    TooLarge,
    #[error("the signature file is not the expected JSON: {0}")]
    Malformed(String),
    #[error("the public key is not a {0} SPKI PEM key")]
    BadKey(&'static str),
    #[error("the signature does not verify over the file")]
    Invalid,
}

/// A parsed `.sig` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedSignature {
    pub key_id: String,
    pub algorithm: Algorithm,
    pub signature: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SigJson {
    key_id: String,
    algorithm: String,
    signature: String,
}

impl DetachedSignature {
    /// Parses a `.sig` file strictly (a UTF-8 BOM aside): size-limited,
    /// exactly the three members, a known algorithm, a plausible key id, base64 of a plausible
    /// length.
    pub fn parse(bytes: &[u8]) -> Result<Self, SignatureError> {
        if bytes.len() > MAX_SIGNATURE_FILE {
            return Err(SignatureError::TooLarge);
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let j: SigJson =
            serde_json::from_slice(bytes).map_err(|e| SignatureError::Malformed(e.to_string()))?;
        if j.key_id.is_empty()
            || j.key_id.len() > 128
            || !j
                .key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        {
            return Err(SignatureError::Malformed(
                "key_id must be 1 to 128 characters of A-Z a-z 0-9 . _ : -".into(),
            ));
        }
        let algorithm = Algorithm::parse(&j.algorithm).ok_or_else(|| {
            SignatureError::Malformed("algorithm must be ed25519 or ecdsa-p256-sha256".into())
        })?;
        let signature = BASE64
            .decode(j.signature.trim())
            .map_err(|_| SignatureError::Malformed("signature is not base64".into()))?;
        let plausible = match algorithm {
            Algorithm::Ed25519 => signature.len() == 64,
            Algorithm::EcdsaP256Sha256 => (8..=72).contains(&signature.len()),
        };
        if !plausible {
            return Err(SignatureError::Malformed(format!(
                "a {} signature cannot be {} bytes long",
                algorithm.as_str(),
                signature.len()
            )));
        }
        Ok(Self {
            key_id: j.key_id,
            algorithm,
            signature,
        })
    }
}

/// A signer's public key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    EcdsaP256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Parses an SPKI PEM (`-----BEGIN PUBLIC KEY-----`) key of `algorithm`.
    pub fn from_pem(algorithm: Algorithm, pem: &str) -> Result<Self, SignatureError> {
        match algorithm {
            Algorithm::Ed25519 => {
                use ed25519_dalek::pkcs8::DecodePublicKey;
                ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim())
                    .map(Self::Ed25519)
                    .map_err(|_| SignatureError::BadKey("ed25519"))
            }
            Algorithm::EcdsaP256Sha256 => {
                use p256::pkcs8::DecodePublicKey;
                p256::ecdsa::VerifyingKey::from_public_key_pem(pem.trim())
                    .map(Self::EcdsaP256)
                    .map_err(|_| SignatureError::BadKey("ecdsa-p256-sha256"))
            }
        }
    }

    /// Checks `signature` over exactly `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        match self {
            Self::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| SignatureError::Invalid)?;
                key.verify_strict(message, &sig)
                    .map_err(|_| SignatureError::Invalid)
            }
            Self::EcdsaP256(key) => {
                use p256::ecdsa::{Signature, signature::Verifier};
                let sig = Signature::from_der(signature)
                    .or_else(|_| Signature::from_slice(signature))
                    .map_err(|_| SignatureError::Invalid)?;
                // (r, s) and (r, n − s) are the same signature; some signers
                // (openssl) emit the high-s form
                let sig = sig.normalize_s().unwrap_or(sig);
                key.verify(message, &sig)
                    .map_err(|_| SignatureError::Invalid)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ed25519() -> (ed25519_dalek::SigningKey, String) {
        use ed25519_dalek::pkcs8::{EncodePublicKey, spki::der::pem::LineEnding};
        let sk = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let pem = sk
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (sk, pem)
    }

    fn p256() -> (p256::ecdsa::SigningKey, String) {
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        let sk = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let pem = sk
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (sk, pem)
    }

    #[test]
    fn an_ed25519_signature_verifies_over_the_exact_bytes_only() {
        use ed25519_dalek::Signer;
        let (sk, pem) = ed25519();
        let key = PublicKey::from_pem(Algorithm::Ed25519, &pem).unwrap();
        let sig = sk.sign(b"msisdn,mcc\n").to_bytes();
        assert_eq!(key.verify(b"msisdn,mcc\n", &sig), Ok(()));
        assert_eq!(
            key.verify(b"msisdn,mcc\r\n", &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn an_ecdsa_signature_verifies_in_der_and_in_raw_form() {
        use p256::ecdsa::{Signature, signature::Signer};
        let (sk, pem) = p256();
        let key = PublicKey::from_pem(Algorithm::EcdsaP256Sha256, &pem).unwrap();
        let sig: Signature = sk.sign(b"short_code,contract_ref\n");
        assert_eq!(
            key.verify(b"short_code,contract_ref\n", sig.to_der().as_bytes()),
            Ok(())
        );
        assert_eq!(
            key.verify(b"short_code,contract_ref\n", &sig.to_bytes()),
            Ok(())
        );
        assert_eq!(
            key.verify(b"short_code,contract_ref", &sig.to_bytes()),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn a_key_of_the_other_algorithm_or_no_key_at_all_is_refused() {
        let (_, ed_pem) = ed25519();
        let (_, p_pem) = p256();
        assert!(PublicKey::from_pem(Algorithm::EcdsaP256Sha256, &ed_pem).is_err());
        assert!(PublicKey::from_pem(Algorithm::Ed25519, &p_pem).is_err());
        assert!(
            PublicKey::from_pem(
                Algorithm::Ed25519,
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
            )
            .is_err()
        );
    }

    #[test]
    fn a_sig_file_is_parsed_strictly() {
        let ok = br#"{"key_id":"roshan-2026","algorithm":"ed25519","signature":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}"#;
        let s = DetachedSignature::parse(ok).unwrap();
        assert_eq!(s.key_id, "roshan-2026");
        assert_eq!(s.algorithm, Algorithm::Ed25519);
        assert_eq!(s.signature.len(), 64);
        for bad in [
            &br#"{"key_id":"k","algorithm":"rsa","signature":"AA=="}"#[..],
            br#"{"key_id":"k","algorithm":"ed25519","signature":"AA=="}"#,
            br#"{"key_id":"k k","algorithm":"ed25519","signature":"AA=="}"#,
            br#"{"key_id":"k","algorithm":"ed25519","signature":"!!"}"#,
            br#"{"key_id":"k","algorithm":"ed25519","signature":"AA==","extra":1}"#,
            br#"[]"#,
            b"",
        ] {
            assert!(DetachedSignature::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            DetachedSignature::parse(&vec![b' '; MAX_SIGNATURE_FILE + 1]),
            Err(SignatureError::TooLarge)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_as_a_sig_file_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = DetachedSignature::parse(&bytes);
        }

        #[test]
        fn any_bytes_as_a_key_or_a_signature_never_panic(
            pem in ".{0,300}",
            sig in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            for alg in [Algorithm::Ed25519, Algorithm::EcdsaP256Sha256] {
                let _ = PublicKey::from_pem(alg, &pem);
            }
            let (_, pem) = p256();
            let key = PublicKey::from_pem(Algorithm::EcdsaP256Sha256, &pem).unwrap();
            prop_assert!(key.verify(b"x", &sig).is_err());
        }
    }
}
