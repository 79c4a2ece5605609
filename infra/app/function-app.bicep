// The Python function app on a Flex Consumption (FC1) plan, and every app setting the code reads.
//
// Flex Consumption shape (functionAppConfig: deployment blob container with managed-identity auth,
// runtime python + version, scaleAndConcurrency) follows Azure-Samples/functions-quickstart-python-http-azd
// (infra/app/api.bicep) and Azure-Samples/azure-functions-flex-consumption-samples
// (IaC/bicep/core/host/function.bicep), written as plain resources (no registry modules).
// On Flex, FUNCTIONS_WORKER_RUNTIME / WEBSITE_RUN_FROM_PACKAGE and similar settings must NOT be set:
// functionAppConfig replaces them.
//
// Telemetry: PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY makes the Python worker configure the Azure
// Monitor OpenTelemetry distro for the app's loggers (PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME, the root of
// shared.observability) and hand each invocation's trace context to the code; the exporter signs in with
// the identity in APPLICATIONINSIGHTS_AUTHENTICATION_STRING (learn.microsoft.com/azure/azure-functions/
// opentelemetry-howto). host.json keeps the host's default telemetry: its OpenTelemetry mode covers HTTP,
// Service Bus and Event Hubs triggers only, and this app works on timers and queues (shared/telemetry.py).
//
// App settings: one entry per field of shared.settings.Settings (tests/test_infra.py fails when a new
// field is not set here), plus the platform settings for identity-based host storage and Entra-only
// Application Insights. Secrets are Key Vault references, never values.

@description('Function app name (also its host name).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (selects it for storage, App Insights and Graph tokens).')
param identityClientId string

@description('Storage account for the host, the deployment package and the app tables/queues.')
param storageAccountName string

@description('Blob endpoint of that account, without trailing slash.')
param blobEndpoint string

@description('Table endpoint of that account, without trailing slash.')
param tableEndpoint string

@description('Queue endpoint of that account, without trailing slash.')
param queueEndpoint string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Connection string of the Application Insights component (core/monitoring.bicep output). A parameter, not a read of the component\'s properties here: the app settings below are a for-expression, whose input Bicep must know when the deployment starts (BCP178).')
param applicationInsightsConnectionString string

@description('Key Vault URI (ends with a slash).')
param keyVaultUri string

@description('Names of the secrets in Key Vault (see main.bicep).')
param secretNames object

@description('Python version of the Flex runtime: the version the code is tested on (ci.yml, deploy.yml).')
param pythonVersion string = '3.11'

// Flex accepts 1 to 1000 ("the lowest maximum instance count value is 1, and the highest supported
// maximum instance count value is 1000", learn.microsoft.com/azure/azure-functions/event-driven-scaling
// #limit-scale-out; older preview docs said 40). The cap applies per scale group (all HTTP functions
// together, each other function on its own), not to the app as a whole.
@description('Upper bound of on-demand instances per scale group. Small on purpose: every instance shares ONE Plytix rate limit (20 requests per 10 s on the free plan), so more instances bring no throughput, only more 429s and more billed instances waiting for their turn; the scan queue and the timers are paced by Plytix, not by CPU. 4 leaves room for concurrent HTTP callers.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 4

@description('Memory per instance (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// ----- Values of shared.settings.Settings (defaults mirror the code's defaults) -----

@description('ENVIRONMENT_NAME: goes into every finding fingerprint.')
@maxLength(40)
param environmentName string

@description('RULES_FILE: path of the rules file inside the deployed package.')
param rulesFile string = 'rules.yaml'

@description('CHANNEL_FEED_ALLOWED_HOSTS: hosts a channel feed_url may point at (SSRF guard).')
param channelFeedAllowedHosts string = 'pim.plytix.com'

@description('CHANNEL_FEED_MAX_BYTES: a channel feed larger than this is refused.')
param channelFeedMaxBytes int = 209715200

@description('CHANNEL_FEED_TIMEOUT_SECONDS: the whole feed download must finish within this.')
param channelFeedTimeoutSeconds int = 120

@description('CHANNEL_WEBHOOK_DEDUP_SECONDS: a delivery claim older than this (its check died) is taken over.')
param channelWebhookDedupSeconds int = 900

@description('PLYTIX_WEBHOOK_HEADER: the custom header Plytix sends the webhook secret in.')
param plytixWebhookHeader string = 'X-Plytix-Webhook-Secret'

param plytixBaseUrl string = 'https://pim.plytix.com'
param plytixAuthUrl string = 'https://auth.plytix.com'

@description('PLYTIX_RATE_PER_10S: client-side cap; set to your Plytix plan (20 free, 50 paid).')
param plytixRatePer10s int = 20

@description('PLYTIX_RATE_PER_HOUR: client-side cap; set to your Plytix plan (2,000 free, 5,000 paid).')
param plytixRatePerHour int = 2000

param plytixTimeoutSeconds int = 30

@description('PLYTIX_SHARED_RATE_LIMIT: every instance books its Plytix calls in one Table Storage row, so up to maximumInstanceCount instances share the account limit without 429s (2 storage requests per call).')
param plytixSharedRateLimit bool = true

@description('PLYTIX_RATE_MARGIN_SECONDS: each Plytix rate window is treated as this much longer (seconds, a decimal).')
param plytixRateMarginSeconds string = '0.5'

param plytixProductUrlTemplate string = 'https://app.plytix.com/products/{product_id}'
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'

@description('GRAPH_AUTH_MODE: managed_identity (no secret at all) or client_secret (app registration + Key Vault secret).')
@allowed([
  'managed_identity'
  'client_secret'
])
param graphAuthMode string = 'managed_identity'

@description('Application (client) id of the app registration; used only when graphAuthMode is client_secret.')
param graphAppClientId string = ''

param graphTimeoutSeconds int = 30

@description('TABLE_PREFIX: prefix of every table name.')
param tablePrefix string = 'pp'

@description('QUEUE_PREFIX: prefix of every queue name; the queue bindings read it as %QUEUE_PREFIX%.')
@minLength(1)
@maxLength(40)
param queuePrefix string = 'pp'

@description('FULL_SWEEP_SCHEDULE: 6-field NCRONTAB, in UTC.')
param fullSweepSchedule string = '0 0 2 * * *'

@description('INCREMENTAL_SCHEDULE: 6-field NCRONTAB, in UTC.')
param incrementalSchedule string = '0 */5 * * * *'

@description('INCREMENTAL_OVERLAP_SECONDS: how far before its watermark the incremental pass re-reads.')
param incrementalOverlapSeconds int = 300

param maxTasksPerRun int = 200
param groupThreshold int = 25

@description('PLAN_CAPACITY_MARGIN: individual tasks stop this many below Planner\'s ~2,400 active tasks per plan.')
param planCapacityMargin int = 100
param skipBackfill bool = false

@description('HEALTH_CACHE_SECONDS: how long /api/health reuses its upstream checks (probes then cost no API call).')
param healthCacheSeconds int = 60

@allowed([
  'reopen'
  'new_task'
  'leave'
])
param reopenPolicy string = 'reopen'

param deletedTaskCooldownDays int = 7

@description('COMPLETION_SCHEDULE: 6-field NCRONTAB of the completion watcher, in UTC.')
param completionSchedule string = '0 */1 * * * *'

@description('PLANNER_DELTA: beta reads each plan with the Graph beta delta query (v1.0 listing as fallback); off: v1.0 only.')
@allowed(['off', 'beta'])
param plannerDelta string = 'off'

@description('WRITEBACK_MAX_ATTEMPTS: failed Plytix writes before a write-back is parked as failed.')
param writebackMaxAttempts int = 5

@description('Seconds after which a pending task claim is taken over by the next pass (its creator presumed dead).')
@minValue(60)
@maxValue(86400)
param claimTimeoutSeconds int = 300

// Key Vault reference syntax: learn.microsoft.com/azure/app-service/app-service-key-vault-references.
// No version in the URI: the platform picks up a rotated secret within 24 hours (or at the next
// configuration change).
var plytixApiKeyReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretNames.plytixApiKey}/)'
var plytixApiPasswordReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretNames.plytixApiPassword}/)'
var plytixWebhookSecretReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretNames.plytixWebhookSecret}/)'
var plannerNotificationClientStateReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretNames.plannerNotificationClientState}/)'
var graphClientSecretReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secretNames.graphClientSecret}/)'

var usesClientSecret = (graphAuthMode == 'client_secret')

var platformSettings = {
  // Identity-based host storage (learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Application Insights with local auth off: the SDK authenticates with the identity.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The worker sends the app's OpenTelemetry to Application Insights (see the file header).
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME: 'plytix_planner'
  // azure-identity's DefaultAzureCredential reads AZURE_CLIENT_ID to pick the user-assigned identity
  // (azure/identity/_credentials/default.py); the app's table and queue clients use it.
  AZURE_CLIENT_ID: identityClientId
}

var appSettings = {
  ENVIRONMENT_NAME: environmentName
  RULES_FILE: rulesFile
  PLYTIX_API_KEY: plytixApiKeyReference
  PLYTIX_API_PASSWORD: plytixApiPasswordReference
  PLYTIX_BASE_URL: plytixBaseUrl
  PLYTIX_AUTH_URL: plytixAuthUrl
  PLYTIX_RATE_PER_10S: string(plytixRatePer10s)
  PLYTIX_RATE_PER_HOUR: string(plytixRatePerHour)
  PLYTIX_RATE_MARGIN_SECONDS: plytixRateMarginSeconds
  PLYTIX_SHARED_RATE_LIMIT: string(plytixSharedRateLimit)
  PLYTIX_TIMEOUT_SECONDS: string(plytixTimeoutSeconds)
  PLYTIX_PRODUCT_URL_TEMPLATE: plytixProductUrlTemplate
  PLYTIX_WEBHOOK_SECRET: plytixWebhookSecretReference
  PLYTIX_WEBHOOK_HEADER: plytixWebhookHeader
  CHANNEL_FEED_ALLOWED_HOSTS: channelFeedAllowedHosts
  CHANNEL_FEED_MAX_BYTES: string(channelFeedMaxBytes)
  CHANNEL_FEED_TIMEOUT_SECONDS: string(channelFeedTimeoutSeconds)
  CHANNEL_WEBHOOK_DEDUP_SECONDS: string(channelWebhookDedupSeconds)
  GRAPH_BASE_URL: graphBaseUrl
  PLANNER_TASK_URL_TEMPLATE: 'https://planner.cloud.microsoft/webui/plan/{plan_id}/view/board/task/{task_id}'
  GRAPH_AUTH_MODE: graphAuthMode
  GRAPH_TENANT_ID: tenant().tenantId
  // managed_identity: the identity's client id selects it; client_secret: the app registration.
  GRAPH_CLIENT_ID: usesClientSecret ? graphAppClientId : identityClientId
  GRAPH_TIMEOUT_SECONDS: string(graphTimeoutSeconds)
  GRAPH_CONCURRENCY: '8'
  STORAGE_TABLE_ENDPOINT: tableEndpoint
  STORAGE_QUEUE_ENDPOINT: queueEndpoint
  TABLE_PREFIX: tablePrefix
  QUEUE_PREFIX: queuePrefix
  FULL_SWEEP_SCHEDULE: fullSweepSchedule
  SWEEP_SEGMENT_PRODUCTS: '0'
  SWEEP_BUDGET_SECONDS: '240'
  INCREMENTAL_SCHEDULE: incrementalSchedule
  INCREMENTAL_OVERLAP_SECONDS: string(incrementalOverlapSeconds)
  MAX_TASKS_PER_RUN: string(maxTasksPerRun)
  GROUP_THRESHOLD: string(groupThreshold)
  PLAN_CAPACITY_MARGIN: string(planCapacityMargin)
  SKIP_BACKFILL: skipBackfill ? 'true' : 'false'
  REOPEN_POLICY: reopenPolicy
  DELETED_TASK_COOLDOWN_DAYS: string(deletedTaskCooldownDays)
  HEALTH_CACHE_SECONDS: string(healthCacheSeconds)
  COMPLETION_SCHEDULE: completionSchedule
  WRITEBACK_MAX_ATTEMPTS: string(writebackMaxAttempts)
  PLANNER_DELTA: plannerDelta
  PLANNER_NOTIFICATION_CLIENT_STATE: plannerNotificationClientStateReference
  CLAIM_TIMEOUT_SECONDS: string(claimTimeoutSeconds)
}

// With a managed identity there is no Graph secret at all, so the setting does not exist.
var graphSecretSettings = usesClientSecret ? {
  GRAPH_CLIENT_SECRET: graphClientSecretReference
} : {}

var allSettings = union(platformSettings, appSettings, graphSecretSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    // checkov:skip=CKV_AZURE_225: No zone redundancy: the work is timer-driven and level-triggered, so an instance lost in a zone outage only delays a scan, and the next one catches up with nothing lost.
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the app to deploy `services.api` (azure.yaml) to by this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    // checkov:skip=CKV_AZURE_78: Flex Consumption has no FTP deployment; basic-auth publishing (FTP and SCM) is switched off with basicPublishingCredentialsPolicies (below), so only Entra-authenticated deployments are accepted.
    // checkov:skip=CKV_AZURE_222: The HTTP functions (health probe, on-demand scans, audit) must be reachable; they are protected by function keys, and there is no VNet to restrict access to.
    // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero between timer runs by design; a minimum instance count would be billed around the clock for a batch workload.
    // checkov:skip=CKV_AZURE_213: The platform health check pings every instance continuously, which would keep a scale-to-zero app warm (and billed); GET /api/health is for external probes instead.
    // checkov:skip=CKV_AZURE_17: Client certificates would break the anonymous GET /api/health probe and the function-key-protected endpoints; callers authenticate with function keys.
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references are resolved with the user-assigned identity, not a system identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      // The complete list: a setting added by hand in the portal disappears at the next provision.
      appSettings: [for setting in items(allSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Children are declared with `parent:` rather than nested: pycep-parser (which checkov and
// tests/test_infra.py use) keeps only the last of several nested sibling resources.
// Basic-auth (publishing profile) deployment off: deployments authenticate with Entra ID only.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
