# Signs the regulator export's manifest (KMS `Sign`, ECDSA P-256 with
# SHA-256). The public key (`GetPublicKey`) is what the regulator and
# `numbering export verify` check it with.
resource "aws_kms_key" "export_signing" {
  description              = "${local.name} regulator export manifest signing"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
  deletion_window_in_days  = 30
}

resource "aws_kms_alias" "export_signing" {
  name          = "alias/${local.name}-export-signing"
  target_key_id = aws_kms_key.export_signing.key_id
}
