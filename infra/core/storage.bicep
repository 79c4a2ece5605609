// One storage account for everything: the Functions host (AzureWebJobsStorage: timer leases, queue
// triggers), the Flex Consumption deployment package container, and the app's own tables and queues.
//
// Shared-key access is OFF: no connection string or account key exists that could leak; every client
// (host, deployment, app) authenticates with the function app's managed identity and Entra RBAC
// (../app/rbac.bicep). HTTPS only, TLS 1.2 minimum, no anonymous blob access.
// Flex deployment container: Azure-Samples/functions-quickstart-python-http-azd (infra/main.bicep,
// blobServices.containers) and API_FACTS.md "Flex Consumption".

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Blob container that holds the deployment package of the Flex Consumption app.')
param deploymentContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // checkov:skip=CKV_AZURE_206: LRS on purpose. The account holds reconciliation state that the next full sweep rebuilds from Plytix and Planner (level-triggered design), so geo-replication would double the storage bill for data we can regenerate.
    name: 'Standard_LRS'
  }
  properties: {
    // checkov:skip=CKV_AZURE_59: Flex Consumption without VNet integration reaches storage over its public endpoint; access is closed by disabling shared keys and requiring Entra RBAC, not by network rules.
    // checkov:skip=CKV_AZURE_35: Same reason as CKV_AZURE_59: a deny-by-default firewall would lock out the Functions host, which has no fixed outbound address on Flex Consumption without a VNet.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }

  resource blobService 'blobServices' = {
    name: 'default'
    properties: {
      deleteRetentionPolicy: {
        enabled: true
        days: 7
      }
      containerDeleteRetentionPolicy: {
        enabled: true
        days: 7
      }
    }

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

output name string = storage.name
output id string = storage.id
// Data endpoints without a trailing slash, the form shared/settings.py documents for
// STORAGE_TABLE_ENDPOINT / STORAGE_QUEUE_ENDPOINT.
output blobEndpoint string = 'https://${storage.name}.blob.${environment().suffixes.storage}'
output tableEndpoint string = 'https://${storage.name}.table.${environment().suffixes.storage}'
output queueEndpoint string = 'https://${storage.name}.queue.${environment().suffixes.storage}'
