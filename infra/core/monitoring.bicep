// Log Analytics workspace + workspace-based Application Insights, both with local (key) auth OFF:
// telemetry is only accepted from Entra-authenticated senders (the function app's identity holds
// Monitoring Metrics Publisher, see ../app/rbac.bicep), so the connection string alone cannot be used
// to write into our logs. Shape follows Azure-Samples/functions-quickstart-python-http-azd
// (infra/main.bicep: workspace + component with disableLocalAuth: true), written as plain resources.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Days of log retention (30 is the free retention of the Analytics tier).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name
// Where the function app sends telemetry (APPLICATIONINSIGHTS_CONNECTION_STRING). Passed to
// ../app/function-app.bicep as a module parameter: a module parameter is known when that module's
// deployment starts, so its app-settings for-expression may use it, whereas reading the component's
// `properties` there is BCP178 (Azure/bicep#1917). Not a secret: with local auth off, sending telemetry
// also needs an Entra token of an identity holding Monitoring Metrics Publisher.
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsName string = workspace.name
// The workspace GUID that `az monitor log-analytics query --workspace` expects.
output logAnalyticsWorkspaceId string = workspace.properties.customerId
