// The function app's user-assigned managed identity.
//
// Why user-assigned (not system-assigned): it exists BEFORE the function app, so every role it needs
// (storage data, Key Vault secrets, App Insights ingestion, and the Graph app roles an admin grants)
// is in place when the app first starts; Key Vault references then resolve on the first start instead
// of failing until a restart. Same choice as Azure-Samples/functions-quickstart-python-http-azd
// (infra/main.bicep, "apiUserAssignedIdentity").

@description('Name of the user-assigned identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for the resource.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
