//! Realistic kubectl outputs used by the tests.

/// `kubectl get secret db -o yaml`, with the last-applied annotation.
pub(super) const SECRET_YAML: &str = r##"apiVersion: v1
data:
  password: czNjcjN0UGFzc3cwcmQ=
  username: YWRtaW4=
kind: Secret
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","data":{"password":"czNjcjN0UGFzc3cwcmQ=","username":"YWRtaW4="},"kind":"Secret","metadata":{"annotations":{},"name":"db","namespace":"default"},"type":"Opaque"}
  creationTimestamp: "2024-05-01T10:00:00Z"
  name: db
  namespace: default
  resourceVersion: "12345"
  uid: 0b6f1e8a-1111-2222-3333-444455556666
type: Opaque
"##;

/// `kubectl get secrets -A -o json`: a List of two Secrets.
pub(super) const SECRETS_LIST_JSON: &str = r##"{
    "apiVersion": "v1",
    "items": [
        {
            "apiVersion": "v1",
            "data": {
                "ca.crt": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMK",
                "namespace": "a3ViZS1zeXN0ZW0=",
                "token": "ZXlKaGJHY2lPaUpTVXpJMU5pSjkuZXlKemRXSWlPaUp6ZVhOMFpXMGlmUS5zaWc="
            },
            "kind": "Secret",
            "metadata": {
                "annotations": {
                    "kubernetes.io/service-account.name": "builder"
                },
                "name": "builder-token-x7k2p",
                "namespace": "kube-system"
            },
            "type": "kubernetes.io/service-account-token"
        },
        {
            "apiVersion": "v1",
            "data": {
                "api-key": "c3VwZXJzZWNyZXRhcGlrZXk5OQ==",
                "empty": ""
            },
            "kind": "Secret",
            "metadata": {
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"v1\",\"data\":{\"api-key\":\"c3VwZXJzZWNyZXRhcGlrZXk5OQ==\"},\"kind\":\"Secret\",\"metadata\":{\"annotations\":{},\"name\":\"payments\",\"namespace\":\"shop\"}}\n"
                },
                "name": "payments",
                "namespace": "shop"
            },
            "type": "Opaque"
        }
    ],
    "kind": "List",
    "metadata": {
        "resourceVersion": ""
    }
}
"##;

/// `kubectl config view --raw`: cert/key data, a token, an exec plugin with env, an auth-provider.
pub(super) const KUBECONFIG: &str = r##"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
    server: https://10.0.0.1:6443
  name: prod
contexts:
- context:
    cluster: prod
    user: admin
  name: prod-admin
current-context: prod-admin
kind: Config
preferences: {}
users:
- name: admin
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSURJVENDQWdtZ0F3SUJBZ0lJYWJjZGVmCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVBeHl6CmFiYwotLS0tLUVORCBSU0EgUFJJVkFURSBLRVktLS0tLQo=
- name: ci
  user:
    token: sha256~Xk9pQw2LmN4vB7rT1yZ0aC3dE5fG6hJ8
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - eks
      - get-token
      - --cluster-name
      - prod
      command: aws
      env:
      - name: AWS_PROFILE
        value: prod-admin-profile
      - name: VAULT_TOKEN
        value: hvs.CAESIJk2b3VuZ2xvbmdvcGFxdWU
- name: oidc
  user:
    auth-provider:
      config:
        client-id: kubernetes
        client-secret: 0a1b2c3d-oidc-client-secret-9z8y
        id-token: eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsInN1YiI6ImFsaWNlIn0.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLWp3dA
        idp-issuer-url: https://idp.example.com
        refresh-token: Cgl0ZXN0LXJlZnJlc2gtdG9rZW4tMTIz
      name: oidc
"##;

/// A GCP service-account key file.
pub(super) const GCP_SA_JSON: &str = r##"{
  "type": "service_account",
  "project_id": "acme-prod",
  "private_key_id": "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
  "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nq0xYfakeKeyMaterialHere+/0123456789abcdef\n-----END PRIVATE KEY-----\n",
  "client_email": "deployer@acme-prod.iam.gserviceaccount.com",
  "client_id": "104958712345678901234",
  "auth_uri": "https://accounts.google.com/o/oauth2/auth",
  "token_uri": "https://oauth2.googleapis.com/token",
  "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
  "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/deployer%40acme-prod.iam.gserviceaccount.com"
}
"##;

/// An AWS credentials file (ini form, with and without blanks).
pub(super) const AWS_CREDENTIALS: &str = r##"[default]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
region = us-east-1

[ci]
aws_access_key_id=ASIAY34FZKBOKMUTVV7A
aws_secret_access_key=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY
aws_session_token=IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6
"##;

/// `kubectl describe pod` with env vars and args.
pub(super) const DESCRIBE_POD: &str = r##"Name:             api-7d9f8b6c5-x2x9q
Namespace:        shop
Priority:         0
Service Account:  api
Node:             worker-2/10.0.1.12
Status:           Running
IP:               10.244.2.17
Containers:
  api:
    Container ID:  containerd://3f2a9b
    Image:         registry.example.com/shop/api:1.4.2
    Port:          8080/TCP
    Args:
      --db-password=Pa55w0rd!x
      --token
      tok_9f8e7d6c5b4a
      --log-level=debug
    State:          Running
    Ready:          True
    Environment:
      DB_HOST:          postgres.shop.svc
      DB_PASSWORD:      hunter2-db-pass
      API_TOKEN:        <set to the key 'token' in secret 'api-secrets'>  Optional: false
      STRIPE_SECRET_KEY:  sk_test_51HxYzAbCdEfGh
      SECRET_NAME:      api-secrets
      LOG_LEVEL:        info
    Mounts:
      /var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-8xk2n (ro)
Volumes:
  kube-api-access-8xk2n:
    Type:                    Projected (a volume that contains injected data from multiple sources)
    TokenExpirationSeconds:  3607
    ConfigMapName:           kube-root-ca.crt
    ConfigMapOptional:       <nil>
    DownwardAPI:             true
  creds:
    Type:        Secret (a volume populated by a Secret)
    SecretName:  api-secrets
    Optional:    false
Events:
  Type    Reason     Age   From               Message
  ----    ------     ----  ----               -------
  Normal  Scheduled  2m    default-scheduler  Successfully assigned shop/api-7d9f8b6c5-x2x9q to worker-2
  Normal  Pulled     2m    kubelet            Container image "registry.example.com/shop/api:1.4.2" already present on machine
"##;

/// Application logs: bearer header, JWT, URL token, URL userinfo, key=value.
pub(super) const LOGS: &str = r##"2024-05-01T10:00:00Z INFO  starting api version=1.4.2
2024-05-01T10:00:01Z DEBUG outgoing request GET https://billing.internal/v1/invoices headers={"Authorization": "Bearer 8f14e45fceea167a5a36dedd4bea2543", "Accept": "application/json"}
2024-05-01T10:00:02Z DEBUG verified id token eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiZXhwIjoxNzE0NTU4NDAwfQ.dGhpcy1pcy1hLXNpZ25hdHVyZQ for user-42
2024-05-01T10:00:03Z WARN  callback https://hooks.example.com/notify?channel=ops&token=xoxp-abc123def456&retry=3 returned 500
2024-05-01T10:00:04Z INFO  connecting to postgres://app:s3cr3tPW@db.shop.svc:5432/shop?sslmode=require
2024-05-01T10:00:05Z ERROR token: expired, retrying in 5s
2024-05-01T10:00:06Z INFO  login user=alice password=letmein123 ok
"##;

/// `kubectl get pods -A`.
pub(super) const PODS_TABLE: &str = r##"NAMESPACE     NAME                                READY   STATUS             RESTARTS        AGE
kube-system   coredns-5d78c9869d-4xk8z            1/1     Running            0               12d
shop          api-7d9f8b6c5-x2x9q                 1/1     Running            2 (3h ago)      2d
shop          worker-6b8f9c7d4-abcde              0/1     CrashLoopBackOff   14 (2m ago)     50m
vault         vault-0                             1/1     Running            0               30d
"##;

/// `kubectl describe deployment`.
pub(super) const DESCRIBE_DEPLOYMENT: &str = r##"Name:                   api
Namespace:              shop
CreationTimestamp:      Wed, 01 May 2024 10:00:00 +0000
Labels:                 app=api
Annotations:            deployment.kubernetes.io/revision: 7
Selector:               app=api
Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable
StrategyType:           RollingUpdate
MinReadySeconds:        0
RollingUpdateStrategy:  25% max unavailable, 25% max surge
Pod Template:
  Labels:           app=api
  Service Account:  api
  Containers:
   api:
    Image:      registry.example.com/shop/api:1.4.2
    Port:       8080/TCP
    Host Port:  0/TCP
    Limits:
      cpu:     500m
      memory:  512Mi
    Environment:
      DB_HOST:      postgres.shop.svc
      DB_PASSWORD:  <set to the key 'password' in secret 'db'>  Optional: false
    Mounts:
      /etc/tls from tls (ro)
  Volumes:
   tls:
    Type:          Secret (a volume populated by a Secret)
    SecretName:    api-tls
    Optional:      false
  Node-Selectors:  <none>
  Tolerations:     <none>
Conditions:
  Type           Status  Reason
  ----           ------  ------
  Available      True    MinimumReplicasAvailable
  Progressing    True    NewReplicaSetAvailable
OldReplicaSets:  <none>
NewReplicaSet:   api-7d9f8b6c5 (3/3 replicas created)
Events:          <none>
"##;

/// `kubectl get cm -o yaml` with secret-sounding but harmless keys.
pub(super) const CONFIGMAP_YAML: &str = r##"apiVersion: v1
data:
  app.properties: |
    server.port=8080
    feature.tokens.enabled=true
    db.password.secretName=db
  LOG_LEVEL: info
  SECRET_NAME: api-secrets
  automountServiceAccountToken: "false"
kind: ConfigMap
metadata:
  creationTimestamp: "2024-05-01T10:00:00Z"
  name: api-config
  namespace: shop
  resourceVersion: "4242"
  uid: 6a1f0b1e-aaaa-bbbb-cccc-ddddeeeeffff
"##;

/// A pod spec with a literal env password, secret references and a projected token.
pub(super) const POD_YAML: &str = r##"apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: shop
spec:
  automountServiceAccountToken: true
  containers:
  - env:
    - name: DB_PASSWORD
      value: plainTextPw42
    - name: API_TOKEN
      valueFrom:
        secretKeyRef:
          key: token
          name: api-secrets
    - name: LOG_LEVEL
      value: debug
    envFrom:
    - secretRef:
        name: api-env
    image: registry.example.com/shop/api:1.4.2
    name: api
  volumes:
  - name: tls
    secret:
      secretName: api-tls
  - name: sa
    projected:
      sources:
      - serviceAccountToken:
          expirationSeconds: 3600
          path: token
"##;

/// `kubectl describe secret` of a service-account token Secret.
pub(super) const DESCRIBE_SECRET: &str = r##"Name:         builder-token-x7k2p
Namespace:    kube-system
Labels:       <none>
Annotations:  kubernetes.io/service-account.name: builder
              kubernetes.io/service-account.uid: 6c5a2f3e-1234-4321-9876-0a1b2c3d4e5f

Type:  kubernetes.io/service-account-token

Data
====
ca.crt:     1099 bytes
namespace:  11 bytes
token:      eyJhbGciOiJSUzI1NiIsImtpZCI6InNhLWtleSJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50Omt1YmUtc3lzdGVtOmJ1aWxkZXIifQ.c2lnbmF0dXJl
"##;

/// A prompt fragment with a fenced Secret and a fenced ConfigMap.
pub(super) const PROMPT_FRAGMENT: &str = r##"The user ran `kubectl get secret db -o yaml`:

```yaml
apiVersion: v1
data:
  password: czNjcjN0UGFzc3cwcmQ=
  tls.key: |
    bXVsdGkKbGluZQ==
  username: YWRtaW4=
kind: Secret
metadata:
  name: db
  namespace: default
type: Opaque
```

and `kubectl get cm app -o yaml`:

```yaml
apiVersion: v1
data:
  mode: fast
kind: ConfigMap
metadata:
  name: app
```
"##;

/// Azure connection strings in an env file.
pub(super) const AZURE_ENV: &str = r##"STORAGE_CONNECTION=DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A=;EndpointSuffix=core.windows.net
SERVICEBUS=Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2VydmljZWJ1cy1rZXktMTIzNDU2Nzg5MA=
"##;

/// A two-document YAML stream: a ConfigMap and a Secret with stringData.
pub(super) const MULTI_DOC_YAML: &str = r##"apiVersion: v1
kind: ConfigMap
metadata:
  name: app
data:
  mode: fast
---
apiVersion: v1
kind: Secret
metadata:
  name: app-creds
type: Opaque
stringData:
  config.json: '{"user":"svc","pass":"Sup3rS3cret!"}'
  password: Sup3rS3cret!
"##;
