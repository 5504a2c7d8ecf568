// Storage may be unavailable (private modes, disabled storage): the key then lasts for this page only.

const KEY_STORAGE = 'agent-api.playground.apiKey';

export function loadKey(): string {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function storeKey(key: string): void {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Not persisted; it still works for this page.
  }
}
