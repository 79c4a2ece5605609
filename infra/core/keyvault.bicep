// Key Vault for the few real secrets: the Plytix API key and password, and the Graph client secret
// when (and only when) Graph access uses an app registration instead of the managed identity.
//
// RBAC authorization (no access policies): the app's identity gets "Key Vault Secrets User" and reads
// the secrets through Key Vault references in its app settings (../app/function-app.bicep); nobody
// copies a secret into a plain setting. Soft delete + purge protection keep a deleted secret
// recoverable.
//
// A secret is written only when its value is passed in (non-empty). Re-running the deployment without
// the values (CI, `azd provision` on another machine) therefore never blanks an existing secret;
// secrets can also be set later with `az keyvault secret set` (docs/DEPLOYMENT.md).

@description('Key Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Secret name -> value, holding only the secrets provided in this deployment (main.bicep leaves out empty ones).')
@secure()
param secretValues object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // checkov:skip=CKV_AZURE_109: Flex Consumption without VNet integration resolves Key Vault references over the public endpoint and App Service is not a "trusted service" for the firewall bypass; access is restricted by Entra RBAC instead.
    // checkov:skip=CKV_AZURE_189: Public network access stays on for the same reason as CKV_AZURE_109 (no VNet, hence no private endpoint); every read needs an Entra token with the Key Vault Secrets User role.
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secret in items(secretValues): {
  parent: vault
  name: secret.key
  properties: {
    // checkov:skip=CKV_AZURE_41: No expiry date: Plytix API credentials and Graph client secrets expire on their issuer's side, and an expired Key Vault secret would make the platform stop resolving the reference, taking the app down. Rotation is a documented manual step (docs/DEPLOYMENT.md).
    value: secret.value
    contentType: 'text/plain'
  }
}]

output name string = vault.name
output id string = vault.id
output vaultUri string = vault.properties.vaultUri
