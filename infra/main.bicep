// Entry point for `azd up` / `azd provision` (azure.yaml) or
// `az deployment sub create --template-file infra/main.bicep` (docs/DEPLOYMENT.md).
//
// Creates one resource group holding: the function app on Flex Consumption with a user-assigned
// identity, its storage account (shared keys off), Key Vault (RBAC), Log Analytics + Application
// Insights (local auth off), the identity's role assignments, and optionally the identity GitHub
// Actions deploys with. Layout modelled on Azure-Samples/functions-quickstart-python-http-azd
// (infra/main.bicep), with plain resources instead of registry modules (no network needed to build).
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name (dev, prod, ...). Becomes ENVIRONMENT_NAME, which is part of every finding fingerprint, so it is capped at the 40 characters shared/settings.py accepts.')
param environmentName string

@minLength(1)
@description('Azure region of every resource. Must offer Flex Consumption: `az functionapp list-flexconsumption-locations`.')
param location string

@description('Object id of the person or pipeline deploying (azd sets AZURE_PRINCIPAL_ID); receives Key Vault Secrets Officer to set and rotate secrets. Empty: none.')
param principalId string = ''

@description('Principal type of principalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('owner/name of the GitHub repository whose deploy.yml may deploy (OIDC). Empty: no deployment identity is created. main.parameters.json reads it from DEPLOY_GITHUB_REPOSITORY, a name no CI runner sets by itself (GitHub Actions sets GITHUB_REPOSITORY on every runner), so a provision run in CI creates no identity unless asked to.')
param githubRepository string = ''

@description('GitHub environment of the deploy job.')
param githubEnvironment string = 'production'

@description('How the app authenticates to Microsoft Graph: managed_identity (recommended, no secret) or client_secret.')
@allowed([
  'managed_identity'
  'client_secret'
])
param graphAuthMode string = 'managed_identity'

@description('client_secret mode only: application (client) id of the app registration.')
param graphAppClientId string = ''

@description('Plytix API key. Written to Key Vault when non-empty; can also be set later with az keyvault secret set.')
@secure()
param plytixApiKey string = ''

@description('Plytix API password. Written to Key Vault when non-empty.')
@secure()
param plytixApiPassword string = ''

@description('client_secret mode only: the app registration secret. Written to Key Vault when non-empty.')
@secure()
param graphClientSecret string = ''

@description('Shared secret Plytix sends in a custom header on channel webhooks (job 5). Written to Key Vault when non-empty; without it every channel webhook is refused with 401.')
@secure()
param plytixWebhookSecret string = ''

@description('The clientState relays must send to POST /api/planner/notifications (job 4). Written to Key Vault when non-empty; without it every notification gets 503.')
@secure()
param plannerNotificationClientState string = ''

@description('Hosts a channel feed_url may point at, comma-separated (`*.example.com` allows subdomains).')
param channelFeedAllowedHosts string = 'pim.plytix.com'

@description('Client-side Plytix limit per 10 seconds (your Plytix plan: 20 free, 50 paid).')
param plytixRatePer10s int = 20

@description('Client-side Plytix limit per hour (your Plytix plan: 2,000 free, 5,000 paid).')
param plytixRatePerHour int = 2000

@description('NCRONTAB schedule of the full catalog sweep.')
param fullSweepSchedule string = '0 0 2 * * *'

@description('NCRONTAB schedule of the incremental pass over recently modified products.')
param incrementalSchedule string = '0 */5 * * * *'

@description('Most on-demand instances per scale group (1-1000). Small by default: all instances share one Plytix rate limit (see app/function-app.bicep).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 4

@description('Cap on tasks created per scan.')
param maxTasksPerRun int = 200

@description('On a rule\'s first scan, record findings without creating tasks.')
param skipBackfill bool = false

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
// One place for the secret names: the vault writes them, the app settings reference them.
var secretNames = {
  plytixApiKey: 'plytix-api-key'
  plytixApiPassword: 'plytix-api-password'
  graphClientSecret: 'graph-client-secret'
  plytixWebhookSecret: 'plytix-webhook-secret'
  plannerNotificationClientState: 'planner-notification-client-state'
}
// Only the secrets given to this deployment go to the vault: an omitted one keeps its current value.
var givenPlytixApiKey = empty(plytixApiKey) ? {} : {
  '${secretNames.plytixApiKey}': plytixApiKey
}
var givenPlytixApiPassword = empty(plytixApiPassword) ? {} : {
  '${secretNames.plytixApiPassword}': plytixApiPassword
}
var givenGraphClientSecret = empty(graphClientSecret) ? {} : {
  '${secretNames.graphClientSecret}': graphClientSecret
}
var givenPlytixWebhookSecret = empty(plytixWebhookSecret) ? {} : {
  '${secretNames.plytixWebhookSecret}': plytixWebhookSecret
}
var givenPlannerNotificationClientState = empty(plannerNotificationClientState) ? {} : {
  '${secretNames.plannerNotificationClientState}': plannerNotificationClientState
}
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module appIdentity 'core/identity.bicep' = {
  name: 'app-identity'
  scope: rg
  params: {
    name: 'id-app-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module keyVault 'core/keyvault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    secretValues: union(givenPlytixApiKey, givenPlytixApiPassword, givenGraphClientSecret, givenPlytixWebhookSecret, givenPlannerNotificationClientState)
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'role-assignments'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    appPrincipalId: appIdentity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  // The roles must exist before the host first starts, or it cannot reach its storage or Key Vault.
  dependsOn: [
    rbac
  ]
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: appIdentity.outputs.id
    identityClientId: appIdentity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUri: keyVault.outputs.vaultUri
    secretNames: secretNames
    environmentName: environmentName
    graphAuthMode: graphAuthMode
    graphAppClientId: graphAppClientId
    plytixRatePer10s: plytixRatePer10s
    plytixRatePerHour: plytixRatePerHour
    fullSweepSchedule: fullSweepSchedule
    incrementalSchedule: incrementalSchedule
    maxTasksPerRun: maxTasksPerRun
    skipBackfill: skipBackfill
    maximumInstanceCount: maximumInstanceCount
    channelFeedAllowedHosts: channelFeedAllowedHosts
  }
}

module githubDeployer 'app/github-deployer.bicep' = if (!empty(githubRepository)) {
  name: 'github-deployer'
  scope: rg
  params: {
    name: 'id-deploy-${resourceToken}'
    location: location
    tags: tags
    githubRepository: githubRepository
    githubEnvironment: githubEnvironment
    functionAppName: functionApp.outputs.name
  }
}

// azd stores these in .azure/<env>/.env (`azd env get-values`); docs/DEPLOYMENT.md uses them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
// The service principal that the Graph app roles (Tasks.ReadWrite.All, User.Read.All) are granted to.
output APP_IDENTITY_PRINCIPAL_ID string = appIdentity.outputs.principalId
output APP_IDENTITY_CLIENT_ID string = appIdentity.outputs.clientId
output KEY_VAULT_NAME string = keyVault.outputs.name
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.logAnalyticsWorkspaceId
// For the GitHub repository variable AZURE_CLIENT_ID used by deploy.yml (empty without githubRepository).
output GITHUB_DEPLOYER_CLIENT_ID string = empty(githubRepository) ? '' : githubDeployer.outputs.clientId
