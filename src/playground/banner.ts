import type { Elements } from './elements.js';

/** The error line under the top bar. */
export class Banner {
  constructor(private readonly els: Pick<Elements, 'banner' | 'bannerText'>) {}

  show(text: string): void {
    this.els.bannerText.textContent = text;
    this.els.banner.hidden = false;
  }

  hide(): void {
    this.els.banner.hidden = true;
    this.els.bannerText.textContent = '';
  }
}
