import type { Elements } from './elements.js';

/** On narrow screens the sidebar is a drawer over the conversation (see styles/narrow.css). */
export class SidebarDrawer {
  constructor(private readonly els: Pick<Elements, 'app' | 'backdrop' | 'sidebarToggle'>) {}

  isOpen(): boolean {
    return this.els.app.classList.contains('sidebar-open');
  }

  open(): void {
    this.els.app.classList.add('sidebar-open');
    this.els.backdrop.hidden = false;
    this.els.sidebarToggle.setAttribute('aria-expanded', 'true');
  }

  close(): void {
    if (!this.isOpen()) return;
    this.els.app.classList.remove('sidebar-open');
    this.els.backdrop.hidden = true;
    this.els.sidebarToggle.setAttribute('aria-expanded', 'false');
  }
}
