// Defender Experts for Teams on Azure: the Azure Bot (Teams channel), a Container Apps app with at
// least two replicas, Azure Database for PostgreSQL Flexible Server, Key Vault for the secrets
// (read by the app through a user-assigned managed identity) and Log Analytics.
//
//   az deployment group create -g <resource group> -f deploy/main.bicep -p @deploy/main.parameters.json \
//     -p postgresAdminPassword=<...> appPassword=<...> webhookSecret=<...>

@description('Short name used to derive resource names (lowercase letters and digits).')
@minLength(3)
@maxLength(12)
param name string = 'dexteams'

param location string = resourceGroup().location

@description('The container image, for example <registry>.azurecr.io/defender-experts-bot:1.0.0')
param image string

@description('The registry the image is pulled from with the managed identity (grant it AcrPull).')
param registryServer string

@description('The Entra ID app registration of the bot (single tenant): its application id.')
param appId string

@description('That app registration\'s client secret.')
@secure()
param appPassword string

@description('The Teams app id in your org app catalog (Teams admin center > Manage apps).')
param teamsAppCatalogId string

@description('The mailbox contact emails and email notifications come from.')
param mailSender string

@description('Object id of the security group of high-value users (optional).')
param highValueUsersGroupId string = ''

@description('Standard Webhooks secret shared with the experts (python -m bot notify --new-secret).')
@secure()
param webhookSecret string

param postgresAdminLogin string = 'botadmin'

@secure()
param postgresAdminPassword string

@minValue(2)
param minReplicas int = 2

@minValue(2)
param maxReplicas int = 6

param metricsEnabled bool = false

var suffix = uniqueString(resourceGroup().id, name)
var dbName = 'bot'

resource logs 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: '${name}-logs-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-id-${suffix}'
  location: location
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: '${name}-pg-${suffix}'
  location: location
  sku: { name: 'Standard_B1ms', tier: 'Burstable' }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    storage: { storageSizeGB: 32 }
    backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: dbName
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

// Public access limited to Azure services (0.0.0.0); TLS is required by the server.
resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: postgres
  name: 'AllowAzureServices'
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: '${name}-kv-${take(suffix, 8)}'
  location: location
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

resource appPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'microsoft-app-password'
  properties: { value: appPassword }
}

resource webhookSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'experts-webhook-secret'
  properties: { value: webhookSecret }
}

resource storageUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'storage-url'
  properties: {
    value: 'postgresql://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/${dbName}?sslmode=require'
  }
}

// Key Vault Secrets User, for the app's identity only.
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      '4633458b-17de-408a-b874-0445c86b69e6'
    )
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${name}-env-${suffix}'
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${name}-bot'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  dependsOn: [ secretsUser, database, allowAzure ]
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 3978
        transport: 'http'
        allowInsecure: false
        // The expert console's sign-in sessions are kept by the replica that signed the expert
        // in: its page, API calls and WebSocket stay there (chat events reach every replica).
        stickySessions: { affinity: 'sticky' }
      }
      registries: [ { server: registryServer, identity: identity.id } ]
      secrets: [
        { name: 'microsoft-app-password', keyVaultUrl: appPasswordSecret.properties.secretUri, identity: identity.id }
        { name: 'experts-webhook-secret', keyVaultUrl: webhookSecretSecret.properties.secretUri, identity: identity.id }
        { name: 'storage-url', keyVaultUrl: storageUrlSecret.properties.secretUri, identity: identity.id }
      ]
    }
    template: {
      terminationGracePeriodSeconds: 30
      containers: [
        {
          name: 'bot'
          image: image
          resources: { cpu: json('0.5'), memory: '1Gi' }
          env: [
            { name: 'HOST', value: '0.0.0.0' }
            { name: 'PORT', value: '3978' }
            { name: 'MicrosoftAppId', value: appId }
            { name: 'MicrosoftAppPassword', secretRef: 'microsoft-app-password' }
            { name: 'MicrosoftAppType', value: 'SingleTenant' }
            { name: 'MicrosoftAppTenantId', value: tenant().tenantId }
            { name: 'BOT_ENDPOINT', value: 'https://${name}-bot.${environment.properties.defaultDomain}/api/messages' }
            { name: 'STORAGE_URL', secretRef: 'storage-url' }
            { name: 'TENANT_BACKEND', value: 'graph' }
            { name: 'TEAMS_APP_CATALOG_ID', value: teamsAppCatalogId }
            { name: 'MAIL_SENDER', value: mailSender }
            { name: 'HIGH_VALUE_USERS_GROUP_ID', value: highValueUsersGroupId }
            { name: 'EXPERTS_WEBHOOK_SECRET', secretRef: 'experts-webhook-secret' }
            { name: 'LOG_FORMAT', value: 'json' }
            { name: 'METRICS_ENABLED', value: string(metricsEnabled) }
            { name: 'SHUTDOWN_GRACE_SECONDS', value: '20' }
          ]
          probes: [
            {
              type: 'Liveness'
              httpGet: { path: '/healthz', port: 3978 }
              periodSeconds: 10
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: { path: '/readyz', port: 3978 }
              periodSeconds: 5
              failureThreshold: 3
            }
            {
              type: 'Startup'
              httpGet: { path: '/healthz', port: 3978 }
              periodSeconds: 2
              failureThreshold: 30
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [ { name: 'http', http: { metadata: { concurrentRequests: '100' } } } ]
      }
    }
  }
}

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: '${name}-bot-${suffix}'
  location: 'global'
  kind: 'azurebot'
  sku: { name: 'S1' }
  properties: {
    displayName: 'Defender Experts'
    endpoint: 'https://${app.properties.configuration.ingress.fqdn}/api/messages'
    msaAppId: appId
    msaAppType: 'SingleTenant'
    msaAppTenantId: tenant().tenantId
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: { isEnabled: true }
  }
}

output messagingEndpoint string = 'https://${app.properties.configuration.ingress.fqdn}/api/messages'
output postgresServer string = postgres.properties.fullyQualifiedDomainName
output keyVault string = vault.name
output identityPrincipalId string = identity.properties.principalId
