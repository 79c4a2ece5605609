// Identity that .github/workflows/deploy.yml signs in as, with OpenID Connect: no secret is stored in
// GitHub. A federated credential trusts tokens GitHub issues for ONE repository and ONE GitHub
// environment (deploy.yml's `environment: production`), and the identity may deploy to this one
// function app only (Website Contributor on the site).
//
// Sources: Azure/functions-action README "Use OIDC (recommended)" (user-assigned identity + federated
// credential + Website Contributor); learn.microsoft.com/entra/workload-id/
// workload-identity-federation-create-trust-user-assigned-managed-identity (issuer, audience and the
// subject format `repo:<owner>/<repo>:environment:<name>`).

@description('Name of the deployment identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for the resource.')
param tags object = {}

@description('GitHub repository allowed to deploy, as owner/name.')
param githubRepository string

@description('GitHub environment the deploy job runs in (deploy.yml: environment: production).')
param githubEnvironment string = 'production'

@description('Name of the function app this identity may deploy to.')
param functionAppName string

var websiteContributorRoleId = 'de139f84-1756-47ae-9be6-808fbbe84772'

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags

  resource github 'federatedIdentityCredentials' = {
    name: 'github-${githubEnvironment}'
    properties: {
      issuer: 'https://token.actions.githubusercontent.com'
      subject: 'repo:${githubRepository}:environment:${githubEnvironment}'
      audiences: [
        'api://AzureADTokenExchange'
      ]
    }
  }
}

resource deployAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(site.id, identity.id, websiteContributorRoleId)
  scope: site
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', websiteContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
